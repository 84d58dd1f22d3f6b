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

from rapidfuzz.distance import Levenshtein

from bot.knowledge.models import Emergency

from .normalize import is_han

Units = list[str]


class _Terms:
    """A set of terms, each a sequence of units (words) or a Chinese string."""

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

    def found(self, units: Units, han_text: str, known: frozenset[str] = frozenset()) -> bool:
        """True when a term occurs: Chinese anywhere; words in order, with at most one
        extra word between two words of a term ("devient tout bleu")."""
        if any(t in han_text for t in self.han):
            return True
        for term in self.words:
            if _sequence(units, term, known):
                return True
        return False


def _sequence(units: Units, term: tuple[str, ...], known: frozenset[str]) -> bool:
    for start in range(len(units)):
        if not _same(units[start], term[0], known):
            continue
        i = start
        for word in term[1:]:
            if i + 1 < len(units) and _same(units[i + 1], word, known):
                i += 1
            elif i + 2 < len(units) and _same(units[i + 2], word, known):
                i += 2
            else:
                break
        else:
            return True
    return False


def _same(word: str, term: str, known: frozenset[str]) -> bool:
    """Equal, or one typo apart when both have five letters or more and the message word
    is not itself a known word ("fait" is French, not a typo of "faint")."""
    if word == term:
        return True
    if len(term) < 5 or len(word) < 5 or abs(len(word) - len(term)) > 1 or word in known:
        return False
    return Levenshtein.distance(word, term, score_cutoff=1) <= 1


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

    def check(self, units: Units, names_a_speaker: bool = False) -> str | None:
        """Return the id of the first rule that fires, or None.

        Args:
            units: the message's matching units.
            names_a_speaker: True when the message names a person of the programme.
        Returns:
            rule id (str) when the message is an emergency, else None.
        """
        han_text = "".join(u if is_han(u[0]) else "\0" for u in units)
        fired = next((rid for rid, groups in self.rules
                      if all(g.found(units, han_text, self.known) for g in groups)), None)
        if fired is None:
            return None
        about_programme = names_a_speaker or self.programme.found(units, han_text)
        if about_programme and not self.personal.found(units, han_text):
            return None
        return fired
