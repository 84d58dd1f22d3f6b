"""What the question log may keep of a question: its words, not the contact details in it.

Admins read the unanswered questions (``/unanswered``, ``forumbot report unanswered``) to add
aliases; they need the words, never a phone number, an e-mail address, a chat handle or an
identity/record number a user typed. Those are replaced by placeholders before anything is
stored.
"""
from __future__ import annotations

import re

from bot.core.normalize import normalize

EMAIL = "[email]"
HANDLE = "[user]"
NUMBER = "[number]"
MIN_DIGITS = 5  # a run of 5 or more digits is masked: phones, ids, postcodes; not years

# One pass over the raw text (before normalisation turns "@" and "." into spaces).
# \d is Unicode: Arabic-Indic ٠-٩, Persian ۰-۹ and full-width ０-９ digits count too.
# An address starts where a run of its characters starts, and that run is taken whole
# (possessive): a 20,000-letter word is one linear scan, not one per starting letter.
_PERSONAL = re.compile(
    r"(?P<email>(?<![\w.%+-])[\w.%+-]++\s*(?:@|＠)\s*[\w-]+(?:\s*[.。]\s*[\w-]+)+)"
    r"|(?P<handle>(?<![\w@＠])[@＠]\w{2,})"
    # digits, possibly split by spaces, dots, dashes, slashes or brackets, as phone
    # numbers are written ("+212 (0)6-12 34", "138 0013 8000"); a leading + too
    rf"|(?P<number>\+?\d(?:[\s().\-/\u00a0]{{0,3}}\d){{{MIN_DIGITS - 1},}})")
_PLACEHOLDER = {"email": EMAIL, "handle": HANDLE, "number": NUMBER}


def mask_personal(text: str) -> str:
    """Return ``text`` with e-mail addresses, @handles and runs of MIN_DIGITS or more digits
    (phone numbers, identity or record numbers) replaced by EMAIL, HANDLE and NUMBER; every
    other character is kept. Never raises."""
    return _PERSONAL.sub(lambda m: _PLACEHOLDER[m.lastgroup or "number"], text)


def question_for_log(text: str) -> str:
    """Return what the question log stores of ``text``: its words as
    :func:`bot.core.normalize.normalize` gives them, with the contact details masked
    (placeholders kept as ``[email]``, ``[user]``, ``[number]``); "" when no word is left
    besides placeholders (nothing an admin could make an alias of). Never raises."""
    parts: list[str] = []
    words = False
    last = 0
    for match in _PERSONAL.finditer(text):
        before = normalize(text[last:match.start()])
        words |= bool(before)
        parts += [before, _PLACEHOLDER[match.lastgroup or "number"]]
        last = match.end()
    rest = normalize(text[last:])
    parts.append(rest)
    return " ".join(p for p in parts if p) if words or rest else ""
