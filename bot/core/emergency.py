"""Triage of one message before any search: red flags, then the health safety net.

Every word comes from ``knowledge/emergency.yaml`` (see its header and knowledge/README.md):

- ``groups`` are named lists of terms (per language), e.g. ``bleeding``, ``heavy``,
  ``pregnancy``; a term of several words matches them in order with at most one extra
  word between two of them ("devient tout bleu"), a Chinese term its characters side by
  side; words of five letters or more that are not known words allow one typo.
- a concept (a red flag such as heavy bleeding) fires when one of its patterns does: every
  group of the pattern has a live term, all within ``within`` units of each other.
- a term is not live when a negation word stands just before it ("not bleeding", "plus
  de", "不再出血") or just after it ("bleeding has stopped", "الدم وقف"), or when a
  distant-past word is near ("a seizure years ago"). A negation word inside a longer term
  of a red flag belongs to that term ("not breathing", "won't stop", "ما بغاش يوقف").
  Groups marked ``context`` (a person, a pregnancy) are never denied.
- a red flag in a message framed as a question about the programme or general information
  (a ``framing`` group, or a speaker named) is no emergency, unless a ``personal`` term
  ("I'm", "my wife", "right now") stands near the red-flag words: "what did Cai Bin say
  about heavy bleeding?" is a programme question, "my wife is bleeding heavily, what did
  Cai Bin say?" is an emergency.
- otherwise, a ``safety_net`` concept ("can I take aspirin while pregnant?", "I bled a
  little yesterday") marks the message as a health question: the
  engine answers it with the "if this is urgent ... I cannot give medical advice" reply
  unless the programme answers it confidently.

Darija negation written as one word ("ماكتنزفش", "makatnzefch") is split into the negation
and the verb ("ما كتنزف"), in messages and terms alike.
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from bot.knowledge.models import Concept, Emergency, Terms

from .normalize import is_han

Units = list[str]
Matches = list[frozenset[str]]   # per message unit: the term words it stands for
Span = tuple[int, int]           # start, end (exclusive) in message units
Listed = list[tuple[Concept, list[frozenset[str]]]]   # concepts with their patterns' groups

# the negation lists, read as groups with names no admin can write
_BEFORE, _AFTER, _PAST, _OTHER = "\0before", "\0after", "\0past", "\0other"
_DARIJA_AR = re.compile(r"^ما(.{3,})ش$")             # ماكتنزفش -> ما كتنزف
_DARIJA_LATIN = re.compile(r"^ma([a-z0-9]{3,})(?:ch|sh)$")  # makatnzefch -> ma katnzef
_DARIJA_M = re.compile(r"^م([^ا].{3,})ش$")               # مكيتحركش -> ما كيتحرك
# Arabic clitics: "و" / "ف" (and, so) before a word, possessive endings after it
# ("وراسي" -> "راسي", "طفلي" -> "طفل", "وجهها" -> "وجه"); tried when the word is no term
_AR_CONJUNCTION = ("و", "ف")
_AR_SUFFIXES = ("هما", "كم", "ها", "نا", "ه", "ي", "و", "ك")
_YEAR = re.compile(r"^(?:19[5-9][0-9]|20[0-9][0-9])s?$")   # "in 2019": history, not now
MAX_TRIES = 8   # occurrences per group tried when a pattern limits its span
UNIT_CACHE = 50_000   # distinct message units whose term words are remembered


@dataclass(frozen=True)
class Triage:
    """What the detector decided about one message.

    Attributes:
        urgent: id of the red-flag concept that makes it an emergency, or None.
        health: id of the safety-net concept found when the message is a health question
            the bot must not answer with advice, else None.
        framed: True when the message is framed as a question about the programme or
            general information (or names a speaker).
    """

    urgent: str | None = None
    health: str | None = None
    framed: bool = False


def split_darija_negation(units: Units) -> Units:
    """Return ``units`` with one-word Darija negations split: "ماكتنزفش" -> "ما", "كتنزف";
    "makatnzefch" -> "ما", "katnzef" (Latin form: seven letters or more, so "match" stays;
    the negation is written in Arabic script, so French "ma" (my) is never read as one)."""
    out: Units = []
    for unit in units:
        if unit[0] not in "mم" or len(unit) < 5:
            out.append(unit)
            continue
        m = _DARIJA_AR.match(unit)
        if m is None and len(unit) >= 6:
            m = _DARIJA_M.match(unit)
        if m is None and len(unit) >= 7 and unit.isascii():
            m = _DARIJA_LATIN.match(unit)
        if m:
            out += ["ما", m.group(1)]
        else:
            out.append(unit)
    return out


def _arabic_stems(word: str) -> list[str]:
    """The forms of an Arabic word without a leading "و"/"ف" and/or a possessive ending,
    keeping at least two letters."""
    bases = [word] + [word[1:] for c in _AR_CONJUNCTION if word.startswith(c) and len(word) > 3]
    out = bases[1:]
    for base in bases:
        out += [base[:-len(s)] for s in _AR_SUFFIXES if base.endswith(s) and len(base) - len(s) >= 2]
    return out


def _extend(matches: Matches, term: tuple[str, ...], start: int) -> int | None:
    """Return the end (exclusive) of ``term`` matched from ``start``, or None. One extra word
    may stand between two words of a term, never between two Chinese characters."""
    n, i = len(matches), start
    for prev, word in zip(term, term[1:]):
        if i + 1 < n and word in matches[i + 1]:
            i += 1
        elif i + 2 < n and word in matches[i + 2] and not is_han(prev[0]) \
                and not is_han(word[0]):
            i += 2
        else:
            return None
    return i + 1


class EmergencyDetector:
    """Decide whether a message is an emergency, a health question, or neither.

    Args:
        emergency: the validated ``emergency`` section of the knowledge.
        units: the tokenizer used by the match index (so spelling variants agree).
        known: words of the knowledge and stopwords, never read as a typo of a term.
    """

    def __init__(self, emergency: Emergency, units: Callable[[str], Units],
                 known: frozenset[str] = frozenset()):
        self.e = emergency
        self.known = known
        self._cache: dict[str, frozenset[str]] = {}
        self.context = {name for name, terms in emergency.groups.items() if terms.context}
        neg = emergency.negation
        lists: dict[str, Terms] = {**emergency.groups, _BEFORE: neg.before, _AFTER: neg.after,
                                   _PAST: neg.past, _OTHER: neg.other_meaning}
        # first word of a term -> (group, term): one look-up per message unit
        self.starts: dict[str, list[tuple[str, tuple[str, ...], frozenset[str]]]] = \
            defaultdict(list)
        for name, terms in lists.items():
            for text in dict.fromkeys(terms.all()):
                term = tuple(split_darija_negation(units(text)))
                if term:
                    self.starts[term[0]].append((name, term, frozenset(term)))
        self.words = frozenset(w for entries in self.starts.values()
                               for _, term, _ in entries for w in term)
        # typos are forgiven in words of groups, never in negation words ("mains" is no
        # "moins"): a misread negation would hide a red flag
        fuzzy = {w for entries in self.starts.values() for name, term, _ in entries
                 if not name.startswith("\0") for w in term}
        # each concept with the group sets of its patterns, to skip it in one look
        self.concepts: Listed = [(c, [frozenset(p.all) for p in c.when])
                                 for c in emergency.concepts]
        self.net: Listed = [(c, [frozenset(p.all) for p in c.when])
                            for c in emergency.safety_net]
        # a message needs a word of one of these groups before any concept can fire
        self.concept_signs = frozenset(g for c in emergency.concepts for p in c.when
                                       for g in p.all) - self.context
        self.net_signs = frozenset(g for c in emergency.safety_net for p in c.when
                                   for g in p.all) - self.context
        # groups red flags are made of: a negation word inside one of their terms is theirs
        self.signs = frozenset(g for c in emergency.concepts for p in c.when for g in p.all)
        # one-typo look-up: every word of five letters or more by each of its deletions
        self.deletes: dict[str, set[str]] = defaultdict(set)
        for word in fuzzy:
            if len(word) >= 5 and not is_han(word[0]):
                for variant in {word[:i] + word[i + 1:] for i in range(len(word))} | {word}:
                    self.deletes[variant].add(word)

    def _unjoined(self, units: Units) -> Units:
        """``units`` with "and"/"so" (و, ف) taken off a word when what is left starts a
        term of the rules and the whole word does not: "وما بقاتش" -> "ما بقاتش", "ولا
        يتنفس" -> "لا يتنفس" (negations are matched exactly, so the stems of
        :func:`_arabic_stems` do not reach them)."""
        return [u[1:] if u[0] in _AR_CONJUNCTION and len(u) >= 3 and u not in self.words
                and u[1:] in self.starts else u for u in units]

    def _matches(self, units: Units) -> Matches:
        """For each unit, the term words it is (exactly, or one typo away when it has five
        letters or more, keeps the first letter and is not a known word itself: "fait" is
        French, not "faint"; "sitting" is not "fitting")."""
        return [self._unit_matches(unit) for unit in units]

    def _unit_matches(self, unit: str) -> frozenset[str]:
        cached = self._cache.get(unit)
        if cached is None:
            if len(self._cache) >= UNIT_CACHE:
                self._cache.clear()
            cached = self._cache[unit] = self._unit_matches_uncached(unit)
        return cached

    def _unit_matches_uncached(self, unit: str) -> frozenset[str]:
        found = {unit} & self.words
        if not found and "\u0600" <= unit[0] <= "\u06ff" and len(unit) >= 3:
            found = set(_arabic_stems(unit)) & self.words
        if len(unit) >= 5 and unit not in self.known and not is_han(unit[0]):
            for variant in {unit[:i] + unit[i + 1:] for i in range(len(unit))} | {unit}:
                for word in self.deletes.get(variant, ()):
                    if word not in found and word[0] == unit[0] and \
                            abs(len(word) - len(unit)) <= 1 and \
                            OSA.distance(unit, word, score_cutoff=1) <= 1:
                        found.add(word)
        return frozenset(found)

    def _occurrences(self, units: Units, matches: Matches) -> dict[str, list[Span]]:
        """Every group's term occurrences in the message, as spans (a negation word only
        where the message has it exactly)."""
        out: dict[str, list[Span]] = defaultdict(list)
        present = frozenset().union(*matches)
        for i, words in enumerate(matches):
            for word in words:
                for group, term, needs in self.starts.get(word, ()):
                    if (group[0] == "\0" and word != units[i]) or not needs <= present:
                        continue
                    end = _extend(matches, term, i) if len(term) > 1 else i + 1
                    if end is not None and (i, end) not in out[group]:
                        out[group].append((i, end))
        other = out.pop(_OTHER, [])
        if other:  # "blood" inside "blood pressure" is no red flag
            for group, spans in out.items():
                out[group] = [s for s in spans if not any(
                    o[0] <= s[0] and s[1] <= o[1] and s != o for o in other)]
        return out

    def _negations(self, occ: dict[str, list[Span]]) -> tuple[list[Span], list[Span]]:
        """The ``before`` and ``after`` negation spans that are not part of a red-flag term
        (the "not" of "not breathing", the "stop" of "won't stop")."""
        signs = [s for g in self.signs for s in occ.get(g, ())]

        def own(span: Span) -> bool:
            return any(s[0] <= span[0] and span[1] <= s[1] and s[1] - s[0] > span[1] - span[0]
                       for s in signs)

        return ([s for s in occ.get(_BEFORE, ()) if not own(s)],
                [s for s in occ.get(_AFTER, ()) if not own(s)])

    def _live(self, occ: dict[str, list[Span]], before: list[Span],
              after: list[Span]) -> dict[str, list[Span]]:
        """The occurrences not denied by a negation or a distant past."""
        neg = self.e.negation
        past = occ.get(_PAST, [])

        def denied(span: Span) -> bool:
            start, end = span
            return (any(0 <= start - b_end < neg.window for _, b_end in before)
                    or any(0 <= a_start - end < neg.window for a_start, _ in after)
                    or any(p_start - end < neg.past_window and start - p_end < neg.past_window
                           for p_start, p_end in past))

        return {g: [s for s in spans if g in self.context or not denied(s)]
                for g, spans in occ.items() if not g.startswith("\0")}

    def _fires(self, concept: Concept, live: dict[str, list[Span]],
               occ: dict[str, list[Span]], negations: list[Span]) -> Span | None:
        """The span of the first pattern of ``concept`` found, or None. A ``negated``
        pattern reads every occurrence and needs a negation in or next to its span."""
        window = self.e.negation.window + 1
        for pattern in concept.when:
            lists = [(occ if pattern.negated else live).get(g) for g in pattern.all]
            present = [spans for spans in lists if spans]
            if len(present) < len(lists):  # a word group of the pattern is missing
                continue
            for combo in itertools.product(*(spans[:MAX_TRIES] for spans in present)):
                start, end = min(s for s, _ in combo), max(e for _, e in combo)
                if pattern.within is not None and end - start > pattern.within:
                    continue
                if pattern.negated and not any(  # a negation among the words, or next to them
                        max(end, n_end) - min(start, n_start) <= (pattern.within or window)
                        for n_start, n_end in negations):
                    continue
                return start, end
        return None

    @staticmethod
    def _candidates(concepts: Listed, signs: frozenset[str],
                    present: frozenset[str]) -> list[Concept]:
        """The concepts one of whose patterns has all its groups in the message."""
        if not present & signs:
            return []
        return [c for c, needs in concepts if any(n <= present for n in needs)]

    def triage(self, units: Units, names_a_speaker: bool = False) -> Triage:
        """Decide about one message.

        Args:
            units: the message's matching units (the index's tokenizer).
            names_a_speaker: True when the message names a person of the programme.
        Returns:
            a :class:`Triage`; ``urgent`` set means the emergency reply.
        """
        units = self._unjoined(split_darija_negation(units))
        occ = self._occurrences(units, self._matches(units))
        years = [(i, i + 1) for i, u in enumerate(units) if u[0].isdigit() and _YEAR.match(u)]
        if years:
            occ[_PAST] = occ.get(_PAST, []) + years
        framed = names_a_speaker or any(occ.get(g) for g in self.e.framing)
        present = frozenset(g for g, spans in occ.items() if spans)
        # only the concepts one of whose patterns has all its groups in the message
        urgent = self._candidates(self.concepts, self.concept_signs, present)
        health_net = self._candidates(self.net, self.net_signs, present)
        if not urgent and not health_net:
            return Triage(framed=framed)
        before, after = self._negations(occ)
        live = self._live(occ, before, after)
        negations = before + after
        personal = [s for g in self.e.personal for s in occ.get(g, ())]
        window = self.e.personal_window
        for concept in urgent:
            span = self._fires(concept, live, occ, negations)
            if span is None:
                continue
            near = any(p_start < span[1] + window and span[0] - p_end < window
                       for p_start, p_end in personal)
            if not framed or near:
                return Triage(urgent=concept.id, framed=framed)
        health = next((c.id for c in health_net  # negated or past: still health
                       if self._fires(c, occ, occ, negations)), None)
        return Triage(health=health, framed=framed)
