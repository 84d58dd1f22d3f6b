"""Urgent-symptom detection, decided before any search.

Rules, numbers and cue words come from ``knowledge/emergency.yaml``. A rule fires when each
of its groups has a term in the message. Word terms match whole words in sequence, allowing
one typo in words of five letters or more ("bleding", "siezure"); Chinese terms match
anywhere. A message that fires a rule is an emergency unless it is a question about the
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

    def found(self, units: Units, han_text: str) -> bool:
        if any(t in han_text for t in self.han):
            return True
        n = len(units)
        for term in self.words:
            k = len(term)
            for i in range(n - k + 1):
                if all(_same(units[i + j], term[j]) for j in range(k)):
                    return True
        return False


def _same(word: str, term: str) -> bool:
    if word == term:
        return True
    if len(term) < 5 or abs(len(word) - len(term)) > 1:
        return False
    return Levenshtein.distance(word, term, score_cutoff=1) <= 1


class EmergencyDetector:
    """Decide whether a message describes urgent symptoms happening now.

    Args:
        emergency: the validated ``emergency`` section of the knowledge.
        units: the tokenizer used by the match index (so spelling variants agree).
    """

    def __init__(self, emergency: Emergency, units: Callable[[str], Units]):
        self.rules = [(rule.id, [_Terms(group, units) for group in rule.all])
                      for rule in emergency.rules]
        self.programme = _Terms(emergency.programme_cues, units)
        self.personal = _Terms(emergency.personal_cues, units)

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
                      if all(g.found(units, han_text) for g in groups)), None)
        if fired is None:
            return None
        about_programme = names_a_speaker or self.programme.found(units, han_text)
        if about_programme and not self.personal.found(units, han_text):
            return None
        return fired
