"""The checks of the shared evaluation scorer (../shared/eval/score.py), for question sets
kept in tests/eval: a case passes when every condition it names holds.

Re-implemented here (same rules, same language heuristic) so the suite does not depend on
a file outside the repository; ``check(case, reply, languages=False)`` leaves out the
``lang`` condition, to report matching and reply language separately.
"""
from __future__ import annotations

import re
import unicodedata

from langcheck import reply_language  # the scorer's language heuristic, kept once

ANSWER_NOT = ("fallback", "emergency")
DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")


def fold(text: str) -> str:
    """Case-, accent- and whitespace-insensitive form used for comparisons."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(DASHES).casefold()
    return re.sub(r"\s+", " ", text).strip()


def check(case: dict, reply: dict, languages: bool = True) -> list[str]:
    """Return the reasons a reply ({"intent", "text"}) fails a case (empty: it passes)."""
    problems = []
    text = fold(str(reply.get("text", "")))
    intent = reply.get("intent")
    for needle in case.get("include", []):
        if fold(str(needle)) not in text:
            problems.append(f"missing {needle!r}")
    for group in case.get("any", []):
        if not any(fold(str(n)) in text for n in group):
            problems.append(f"missing one of {group!r}")
    for needle in case.get("exclude", []):
        if fold(str(needle)) in text:
            problems.append(f"should not mention {needle!r}")
    if "intent" in case:
        if intent not in case["intent"]:
            problems.append(f"intent {intent!r} not in {case['intent']!r}")
    elif intent in ANSWER_NOT:
        problems.append(f"intent {intent!r} where an answer was expected")
    if intent in case.get("not_intent", []):
        problems.append(f"intent {intent!r} must not be used here")
    if languages and "lang" in case:
        wanted = case["lang"] if isinstance(case["lang"], list) else [case["lang"]]
        got = reply_language(str(reply.get("text", "")))
        if got not in wanted:
            problems.append(f"reply written in {got!r}, not in {'/'.join(wanted)!r}")
    return problems
