"""WeChat's built-in smileys, removed from a message before it is read.

A WeChat client sends a smiley as a text code in the message's Content ("/::)" for 微笑,
"/:rose" ...; newer clients also "[微笑]"). Left in, a code starting with "/" makes the
message look like a command ("/::)谁讲了产后出血？" -> "I do not know the command"), and
the others add noise to matching. The codes live in ``emoticons.tsv`` (data, not code).
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "emoticons.tsv"
_SPACES = re.compile(r"  +")


@cache
def codes() -> dict[str, str]:
    """Return {code: Chinese name} of every smiley in ``emoticons.tsv``."""
    table: dict[str, str] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            code, _, name = line.partition("\t")
            table[code] = name.strip()
    return table


@cache
def _pattern() -> re.Pattern[str]:
    # Longest first, so "/::-O" is one smiley, not "/::-" left over; "[name]" forms too.
    forms = [*codes(), *(f"[{name}]" for name in codes().values() if name)]
    return re.compile("|".join(re.escape(f) for f in sorted(set(forms), key=len, reverse=True)))


def strip_emoticons(text: str) -> str:
    """Return ``text`` without WeChat smiley codes; each becomes a space where it stood
    between two words, and the result is stripped ("/::)谁讲了产后出血？" -> "谁讲了产后出血？")."""
    if "/:" not in text and "[" not in text:
        return text
    return _SPACES.sub(" ", _pattern().sub(" ", text)).strip()
