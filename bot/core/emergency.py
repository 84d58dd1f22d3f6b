"""Urgent-symptom detection, decided before any search.

Rules, numbers and cue words come from ``knowledge/emergency.yaml``. A rule fires when each
of its groups has a term in the message. Word terms match whole words in sequence (one
extra word may stand between two words of a term), allowing one typo in words of five
letters or more that are not known words themselves ("bleding", "siezure"); Chinese terms
match anywhere. A message that fires a rule is an emergency unless it is a question about the
programme (a programme cue or a named speaker) with nothing personal in it ("I", "my wife",
"right now"): "what did Cai Bin say about heavy bleeding?" is not an emergency.
"""
from __future__ import annotations

from collections.abc import Callable

from rapidfuzz.distance import OSA

from bot.knowledge.models import Emergency

from .normalize import is_han

Units = list[str]
Matches = list[frozenset[str]]   # per message unit: the term words it stands for


class _Terms:
    """A set of terms, each a sequence of words or a Chinese string."""

    def __init__(self, terms: list[str], units: Callable[[str], Units]):
        self.words: list[tuple[str, ...]] = []
        self.han: list[str] = []
        for term in terms:
            u = units(term)
            if not u:
                continue
            if all(is_han(x[0]) for x in u):
                self.han.append("".join(u))
            else:
                self.words.append(tuple(u))
        self.first = frozenset(term[0] for term in self.words)

    def vocabulary(self) -> set[str]:
        """Every word of every word term."""
        return {w for term in self.words for w in term}

    def found(self, matches: Matches, present: frozenset[str], han_text: str) -> bool:
        """True when a term occurs: Chinese anywhere; words in order, with at most one
        extra word between two words of a term ("devient tout bleu"). ``present`` is the
        union of ``matches``: terms whose first word is absent are not looked at."""
        if han_text and any(t in han_text for t in self.han):
            return True
        if not self.first & present:
            return False
        return any(_sequence(matches, term) for term in self.words if term[0] in present)


def _sequence(matches: Matches, term: tuple[str, ...]) -> bool:
    n = len(matches)
    for start in range(n):
        if term[0] not in matches[start]:
            continue
        i = start
        for word in term[1:]:
            if i + 1 < n and word in matches[i + 1]:
                i += 1
            elif i + 2 < n and word in matches[i + 2]:
                i += 2
            else:
                break
        else:
            return True
    return False


class EmergencyDetector:
    """Decide whether a message describes urgent symptoms happening now.

    Args:
        emergency: the validated ``emergency`` section of the knowledge.
        units: the tokenizer used by the match index (so spelling variants agree).
        known: words of the knowledge and stopwords, never read as a typo of a term.
    """

    def __init__(self, emergency: Emergency, units: Callable[[str], Units],
                 known: frozenset[str] = frozenset()):
        self.rules = [(rule.id, [_Terms(group, units) for group in rule.all])
                      for rule in emergency.rules]
        self.programme = _Terms(emergency.programme_cues, units)
        self.personal = _Terms(emergency.personal_cues, units)
        self.known = known
        words: set[str] = self.programme.vocabulary() | self.personal.vocabulary()
        for _, groups in self.rules:
            for group in groups:
                words |= group.vocabulary()
        self.words = frozenset(words)
        # one-typo look-up: every word of five letters or more by each of its deletions
        self.deletes: dict[str, set[str]] = {}
        for word in words:
            if len(word) >= 5:
                for variant in {word[:i] + word[i + 1:] for i in range(len(word))} | {word}:
                    self.deletes.setdefault(variant, set()).add(word)

    def _matches(self, units: Units) -> Matches:
        """For each unit, the term words it is (exactly, or one typo away when it has five
        letters or more and is not a known word itself: "fait" is French, not "faint")."""
        out = []
        for unit in units:
            found = {unit} & self.words
            if len(unit) >= 5 and unit not in self.known:
                for variant in {unit[:i] + unit[i + 1:] for i in range(len(unit))} | {unit}:
                    for word in self.deletes.get(variant, ()):
                        if word not in found and abs(len(word) - len(unit)) <= 1 and \
                                OSA.distance(unit, word, score_cutoff=1) <= 1:
                            found.add(word)
            out.append(frozenset(found))
        return out

    def check(self, units: Units, names_a_speaker: bool = False) -> str | None:
        """Return the id of the first rule that fires, or None.

        Args:
            units: the message's matching units.
            names_a_speaker: True when the message names a person of the programme.
        Returns:
            rule id (str) when the message is an emergency, else None.
        """
        han_text = "".join(u for u in units if is_han(u[0])) and \
            "".join(u if is_han(u[0]) else "\0" for u in units)
        matches = self._matches(units)
        present = frozenset().union(*matches)
        fired = next((rid for rid, groups in self.rules
                      if all(g.found(matches, present, han_text) for g in groups)), None)
        if fired is None:
            return None
        about_programme = names_a_speaker or self.programme.found(matches, present, han_text)
        if about_programme and not self.personal.found(matches, present, han_text):
            return None
        return fired
