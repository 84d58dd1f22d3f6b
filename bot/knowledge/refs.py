"""References to knowledge entries: one typed form, and its one string form.

Replies list the entries they are about (``Reply.ids``), buttons carry the entry picked
(``Choice.id``), conversations remember entries and the question log names the closest
one, all as the string "kind:id" ("person:cai-bin"). That string is made and read here
only: code builds an :class:`EntryRef` (or takes an entry's ``ref``) and calls ``str()``
on it, and reads one back with :meth:`EntryRef.parse`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

EntryKind = Literal["event", "fact", "person", "talk", "topic", "specialty", "doctor"]
ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)
SEPARATOR = ":"


@dataclass(frozen=True, slots=True)
class EntryRef:
    """The reference of one knowledge entry: its kind and its id.

    Attributes:
        kind: "event", "fact", "person", "talk", "topic", "specialty" or "doctor".
        id: the entry's id in its YAML file ("cai-bin").
    """

    kind: EntryKind
    id: str

    def __str__(self) -> str:
        """The string form replies and storage use: "person:cai-bin"."""
        return f"{self.kind}{SEPARATOR}{self.id}"

    @classmethod
    def parse(cls, key: str) -> EntryRef:
        """Read the string form back ("talk:pph-management" -> EntryRef("talk", ...)).

        Raises:
            ValueError: ``key`` is not "kind:id" with a known kind and a non-empty id
                (a list name like "list:talks", a /language choice, forged data).
        """
        kind, sep, entry_id = key.partition(SEPARATOR)
        if not sep or not entry_id or kind not in ENTRY_KINDS:
            raise ValueError(f"not an entry reference: {key[:60]!r}")
        return cls(kind, entry_id)

    @classmethod
    def find(cls, key: str) -> EntryRef | None:
        """Like :meth:`parse`, but None for a string that is not an entry reference."""
        try:
            return cls.parse(key)
        except ValueError:
            return None


# The match index also keys the vocabulary's cue words ("doctor", "talk") this way, though
# they are not entries: "cue:doctor".
CUE_KIND = "cue"
CUE_PREFIX = CUE_KIND + SEPARATOR


def key_kind(key: str) -> str:
    """The kind part of an entry or index key: "person:cai-bin" -> "person",
    "cue:doctor" -> "cue"."""
    return key.partition(SEPARATOR)[0]


def cue_key(name: str) -> str:
    """The index key of the vocabulary cue ``name`` ("doctor" -> "cue:doctor")."""
    return CUE_PREFIX + name


def ref_key(kind: EntryKind, entry_id: str) -> str:
    """The string form of the entry ``kind``/``entry_id`` ("person", "cai-bin" ->
    "person:cai-bin"), for an id held by another entry (a talk's speaker)."""
    return str(EntryRef(kind, entry_id))


__all__ = ["CUE_KIND", "CUE_PREFIX", "ENTRY_KINDS", "EntryKind", "EntryRef", "cue_key",
           "key_kind", "ref_key"]
