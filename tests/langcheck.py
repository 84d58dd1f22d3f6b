"""The language a reply is written in, judged as the evaluation's scorer judges it.

The logic of ``reply_language`` in ../shared/eval/score.py, copied (tests do not import
from outside the repository): Arabic and Chinese by script, Latin names isolated in Arabic
text (U+2068 ... U+2069) not counted; French and English by their function words.
"""
from __future__ import annotations

import re

ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
ISOLATED = re.compile(r"\u2068[^\u2069]*\u2069")
FR_WORDS = re.compile(r"(?<!\w)(le|la|les|des|du|est|une|un|pour|avec|sur|pas|je|vous|qui|de|"
                      r"et|au|aux|à|été|sont|il|elle|dans|ont|ne|ce|cette)(?!\w)", re.I)
EN_WORDS = re.compile(r"(?<!\w)(the|is|was|and|of|for|with|you|who|this|about|not|what|by|"
                      r"were|it|he|she|are|in|to|an|at|has|from|on)(?!\w)", re.I)


def reply_language(text: str) -> str:
    """Return "ar", "zh", "fr" or "en": the language ``text`` is written in."""
    bare = ISOLATED.sub(" ", text)
    arabic, cjk = len(ARABIC.findall(bare)), len(CJK.findall(bare))
    latin = len(LATIN.findall(bare))
    if arabic >= 2 and arabic >= cjk and 2 * arabic >= latin:
        return "ar"
    if cjk >= 2 and 4 * cjk >= latin:
        return "zh"
    return "fr" if len(FR_WORDS.findall(bare)) > len(EN_WORDS.findall(bare)) else "en"
