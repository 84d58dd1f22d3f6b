"""Follow-up words: pronouns, "tell me more" and ordinals, found in a message's units.

The words come from the knowledge vocabulary (``vocabulary.followups``), in the four
languages, normalised like messages (:func:`bot.core.normalize.tokenize`), and are found
as runs of units, so Chinese phrases ("第二个") need no word segmentation. What a follow-up
refers to is decided by the engine from the conversation's :class:`~bot.core.types.Context`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.knowledge.models import FollowUpWords

from .normalize import tokenize

Phrase = tuple[str, ...]
Phrases = dict[str, tuple[Phrase, ...]]   # first unit -> the phrases starting with it


def _phrases(words: Iterable[str]) -> Phrases:
    index: dict[str, list[Phrase]] = {}
    for phrase in sorted({tuple(tokenize(w)) for w in words}):
        if phrase:
            index.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(found) for first, found in index.items()}


def _spans(units: list[str], phrases: Phrases) -> set[int]:
    """Positions of ``units`` covered by any of ``phrases`` (contiguous runs). Only the
    phrases starting with a unit of the message are tried (trying every phrase at every
    position was a tenth of a message's time)."""
    covered: set[int] = set()
    for i, unit in enumerate(units):
        for phrase in phrases.get(unit, ()):
            n = len(phrase)
            if tuple(units[i:i + n]) == phrase:
                covered.update(range(i, i + n))
    return covered


@dataclass(frozen=True)
class FollowUp:
    """The follow-up words found in one message.

    Attributes:
        pronoun: a pronoun standing for a person ("he", "elle", "她"), outside ``not_pronouns``.
        more: a request for more on the last subject ("tell me more").
        ordinal: the 1-based position of the choice named ("second" -> 2, a bare "2" -> 2),
            -1 for "the last one", or None.
        positions: the message units these words cover.
    """

    pronoun: bool = False
    more: bool = False
    ordinal: int | None = None
    positions: frozenset[int] = frozenset()


class FollowUpFinder:
    """Finds follow-up words in tokenised messages.

    Args:
        words: the vocabulary's follow-up words (per language; all languages are searched
            at once, like the rest of the vocabulary).
    """

    def __init__(self, words: FollowUpWords):
        self.pronouns = _phrases(w for ws in words.pronouns.values() for w in ws)
        self.not_pronouns = _phrases(w for ws in words.not_pronouns.values() for w in ws)
        self.more = _phrases(w for ws in words.more.values() for w in ws)
        self.last = _phrases(w for ws in words.last.values() for w in ws)
        self.ordinals: list[tuple[int, Phrases]] = []
        for lists in words.ordinals.values():
            for i, names in enumerate(lists, 1):
                self.ordinals.append((i, _phrases(names)))

    def find(self, units: list[str]) -> FollowUp:
        """Return the follow-up words of a message given as units (``tokenize(text)``)."""
        excluded = _spans(units, self.not_pronouns)
        pronouns = _spans(units, self.pronouns) - excluded
        more = _spans(units, self.more)
        ordinal: int | None = None
        ordinal_at: set[int] = set()
        for position, phrases in self.ordinals:
            found = _spans(units, phrases)
            if found:
                ordinal, ordinal_at = position, found
                break
        if ordinal is None:
            found = _spans(units, self.last)
            if found:
                ordinal, ordinal_at = -1, found
        if ordinal is None and len(units) == 1 and units[0].isdigit() and len(units[0]) < 4:
            ordinal, ordinal_at = int(units[0]), {0}
        return FollowUp(pronoun=bool(pronouns), more=bool(more), ordinal=ordinal,
                        positions=frozenset(pronouns | more | ordinal_at))


__all__ = ["FollowUp", "FollowUpFinder"]
