"""Warnings about a valid knowledge version: things that load fine but will answer badly.

:func:`warnings_for` looks at a knowledge version the loader has already validated and
reports, with severity ``"warning"`` (never an error: the bot still serves the version):

- **shared alias**: two different entries (person, talk, topic, specialty, fact) with an
  alias or name that the matcher reads as the same words, so a question with those words
  matches both equally well (the warning says what the bot answers to it now);
- **unreachable entry**: asking the real assistant an entry's own name (a person's
  ``name``, a topic's or specialty's ``name``, a fact's ``label``, a talk's English
  ``title``) does not bring that entry into the answer;

Missing translations are checked by the loader (:mod:`bot.knowledge.translations`): errors,
or warnings when the knowledge publishes English first.

Positions come from the loader: ``files_positions`` maps ``(section, id)`` (e.g.
``("people", "cai-bin")``) to ``(file, positions, path)``, where ``positions`` are the
YAML positions of that file (:mod:`bot.knowledge.yamlsafe`) and ``path`` the entry's path
in it (``("people", 8)``). An entry without a known position gets a warning without a line.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .models import Knowledge, LocalizedMap, all_texts
from .problems import Problem
from .refs import EntryRef
from .yamlsafe import FieldPath, Positions, field_path

if TYPE_CHECKING:  # the core imports the models: only the type checker imports it here
    from bot.core.engine import Assistant
    from bot.core.types import Reply

CHECKED_KINDS = ("person", "talk", "topic", "specialty", "fact")
SECTION_OF = {"fact": "facts", "person": "people", "talk": "talks", "topic": "topics",
              "specialty": "specialties", "doctor": "doctors"}
MAX_PAIR_GROUP = 4
"""More entries than this sharing one alias get one warning for the group, not one per pair."""
MAX_REACH_CHECKS = 2000
"""Only the first this many entries are asked for by name (about a millisecond each in a
large directory), so a check or reload of a very large directory stays within seconds."""

Place = tuple[str, Positions, FieldPath]  # (file, YAML positions of that file, path of the entry)


class _Where:
    """Turns an entry key and a field inside the entry into file, line, column and field."""

    def __init__(self, places: Mapping[tuple[str, str], Place]):
        self.places = places

    def place(self, key: str) -> Place | None:
        ref = EntryRef.find(key)
        if ref is None:
            return None
        return self.places.get((SECTION_OF.get(ref.kind, ref.kind), ref.id))

    def problem(self, key: str, sub: FieldPath, message: str) -> Problem:
        place = self.place(key)
        if place is None:
            return Problem("-", None, None, key, message, "warning")
        file, positions, path = place
        full = path + sub
        line: int | None = None
        column: int | None = None
        probe = full
        while probe:
            at_key = positions.get(probe + ("__key__",))
            value = positions.get(probe)
            if at_key or value:
                # a value on its own lines (a list, a group) is shown at its field name
                shown = value if value and (not at_key or value[0] == at_key[0]) else at_key
                assert shown is not None  # one of the two is recorded
                line, column = shown
                break
            probe = probe[:-1]
        return Problem(file, line, column, field_path(full), message, "warning")


def _label(value: str | LocalizedMap | None) -> str:
    texts = all_texts(value)
    return texts[0] if texts else ""


def _main_names(k: Knowledge) -> dict[str, tuple[str, FieldPath]]:
    """Entry key -> (its own name as a user would type it, the field that holds it)."""
    out: dict[str, tuple[str, FieldPath]] = {}
    for fact in k.facts:
        out[str(fact.ref)] = (_label(fact.label), ("label",))
    for person in k.people:
        out[str(person.ref)] = (person.name, ("name",))
    for talk in k.talks:
        sub = ("title",) if isinstance(talk.title, str) else ("title", "en")
        out[str(talk.ref)] = (_label(talk.title), sub)
    for topic in k.topics:
        out[str(topic.ref)] = (topic.name, ("name",))
    for sp in k.specialties:
        out[str(sp.ref)] = (sp.name, ("name",))
    return out


def _alias_fields(k: Knowledge) -> dict[str, list[tuple[str, FieldPath]]]:
    """Entry key -> [(alias text as written, field holding it)], names first."""
    out: dict[str, list[tuple[str, FieldPath]]] = defaultdict(list)
    for fact in k.facts:
        out[str(fact.ref)] += [(a, ("aliases", i)) for i, a in enumerate(fact.aliases)]
    for person in k.people:
        key = str(person.ref)
        out[key].append((person.name, ("name",)))
        out[key] += [(a, ("aliases", i)) for i, a in enumerate(person.aliases)]
    for talk in k.talks:
        out[str(talk.ref)] += [(a, ("aliases", i)) for i, a in enumerate(talk.aliases)]
    for entries in (k.topics, k.specialties):
        for e in entries:
            key = str(e.ref)
            out[key].append((e.name, ("name",)))
            for lang in ("en", "fr", "ar", "zh"):
                out[key] += [(a, ("names", lang, i))
                             for i, a in enumerate(getattr(e.names, lang))]
    return out


def _source(text: str, fields: list[tuple[str, FieldPath]]) -> tuple[str, FieldPath]:
    """The alias as the admin wrote it, and its field, for an indexed alias ``text``
    (a joined form like "lijinbao" comes from "Li Jin Bao")."""
    for written, sub in fields:
        if written == text:
            return written, sub
    for written, sub in fields:
        if "".join(written.split()) == text:
            return written, sub
    return text, ()


def _shared_aliases(k: Knowledge, assistant: Assistant, where: _Where) -> list[Problem]:
    """One warning per pair of entries that share an alias the matcher cannot tell apart,
    with what the assistant answers to that alias now."""
    from bot.core.entries import alias_triples
    from bot.core.index import alias_tokens

    index = assistant.index

    fields = _alias_fields(k)
    owners: dict[object, dict[str, str]] = defaultdict(dict)  # words -> {key: alias}
    for key, text, description in alias_triples(k):
        ref = EntryRef.find(key)  # cue words are not entries
        if description or ref is None or ref.kind not in CHECKED_KINDS:
            continue
        units = index.units(text)
        if not units:
            continue
        name = ref.kind == "person"  # the index keeps the stopwords of a person's name
        if not name and all(u in index.stopwords for u in units):
            words: object = ("phrase", tuple(units))  # matched as a whole phrase
        else:
            words = frozenset(alias_tokens(units, index.stopwords, keep_stopwords=name))
        if words:
            owners[words].setdefault(key, text)
    pairs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    problems: list[Problem] = []
    for found in owners.values():
        if len(found) > MAX_PAIR_GROUP:  # a common surname: one warning, not dozens of pairs
            problems.append(_crowded(found, fields, where))
            continue
        keys = sorted(found)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                pairs.setdefault((a, b), []).append((found[a], found[b]))
    for (a, b), shared in pairs.items():
        # reported at the alias of the entry further down the files: usually the newer one
        if _order(where, b) < _order(where, a):
            a, b, shared = b, a, [(y, x) for x, y in shared]
        spoken: list[str] = []
        sub: FieldPath | None = None
        for alias_a, alias_b in shared:
            written_b, field = _source(alias_b, fields.get(b, []))
            written_a, _ = _source(alias_a, fields.get(a, []))
            sub = field if sub is None else sub
            spoken.append(f"'{written_b}'" if written_a == written_b
                          else f"'{written_b}' / '{written_a}'")
        many = len(spoken) > 1
        asked = _source(shared[0][1], fields.get(b, []))[0]
        problems.append(where.problem(b, sub or (), (
            f"{b} and {a} are both reached by the same words: {', '.join(spoken)}. A question "
            f"using {'them' if many else 'it'} matches both entries equally well (asking "
            f"'{asked}' now gives: {_describe(_ask(assistant, asked))}). If one of them should "
            f"not answer {'these words' if many else 'it'}, remove the alias from that entry "
            "or make it more specific.")))
    return problems


def _order(where: _Where, key: str) -> tuple[str, int, str]:
    place = where.problem(key, (), "")
    return place.file, place.line or 0, key


def _crowded(found: dict[str, str], fields: dict[str, list[tuple[str, FieldPath]]],
             where: _Where) -> Problem:
    keys = sorted(found, key=lambda key: _order(where, key))
    last = keys[-1]
    written, sub = _source(found[last], fields.get(last, []))
    shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
    return where.problem(last, sub, (
        f"'{written}' reaches {len(keys)} entries equally well ({shown}): a question using it "
        "matches them all, so the bot cannot tell them apart by it. Give these entries more "
        "specific aliases if users should reach them with it."))


def _ask(assistant: Assistant, text: str) -> Reply:
    from bot.core.types import Message  # the core imports the models: import late
    return assistant.reply(Message(text, lang="en"))


def _describe(reply: Reply) -> str:
    offered = [c.id for c in reply.choices if ":" in c.id and not c.id.startswith("list:")]
    text = f"{reply.intent} about {', '.join(reply.ids)}" if reply.ids else \
        f"{reply.intent}, no entry"
    if reply.intent == "fallback" and offered:
        text += f"; it offers {', '.join(offered[:4])}"
    return text


def _unreachable(k: Knowledge, assistant: Assistant, where: _Where) -> list[Problem]:
    """Ask the real assistant each entry's own name; warn when the entry is not in the answer."""
    problems: list[Problem] = []
    names = list(_main_names(k).items())
    for key, (name, sub) in names[:MAX_REACH_CHECKS]:
        if not name:
            continue
        reply = _ask(assistant, name)
        if key in reply.ids:
            continue
        problems.append(where.problem(key, sub, (
            f"asking '{name}' does not find {key} (answer: {_describe(reply)}); users typing "
            "this name get another answer. Add a more specific alias, or check that no other "
            "entry uses the same words.")))
    if len(names) > MAX_REACH_CHECKS:
        problems.append(Problem("-", None, None, None, (
            f"only the first {MAX_REACH_CHECKS} of {len(names)} entries were asked for by name; "
            "the others were not checked (the check would take too long)"), "warning"))
    return problems


def warnings_for(knowledge: Knowledge,
                 files_positions: Mapping[tuple[str, str], Place] | None = None,
                 assistant: Assistant | None = None) -> list[Problem]:
    """Return the warnings about a validated knowledge version, sorted by file and line.

    Args:
        knowledge: the validated knowledge.
        files_positions: ``(section, id)`` -> ``(file, positions, path)`` from the loader;
            entries missing from it get warnings without a file position.
        assistant: an :class:`~bot.core.engine.Assistant` over ``knowledge`` to reuse;
            one is built (once) when not given.
    Returns:
        Problems of severity ``"warning"``.
    """
    if assistant is None:
        from bot.core.engine import Assistant  # the core imports the models: import late
        assistant = Assistant(knowledge)
    where = _Where(files_positions or {})
    problems = [*_shared_aliases(knowledge, assistant, where),
                *_unreachable(knowledge, assistant, where)]
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))
