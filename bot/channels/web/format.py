"""Reply -> the JSON the web chat renders.

The page renders every piece with ``textContent`` (never as HTML), so knowledge text and
the user's words are shown verbatim whatever they contain; this module only cuts the text
into lines and segments and marks the emergency numbers, which become ``tel:`` links.
"""
from __future__ import annotations

import re
from typing import Any

from bot.core import render
from bot.core.types import Reply
from bot.i18n import language
from bot.knowledge.models import Knowledge

RTL = frozenset({"ar"})
_NOT_DIALABLE = re.compile(r"[^0-9+*#]")
_ISOLATES = re.compile("[\u2066-\u2069]")

Segment = dict[str, str]


def direction(lang: str) -> str:
    """Return the writing direction of ``lang``: "rtl" for Arabic, else "ltr"."""
    return "rtl" if lang in RTL else "ltr"


def dialable(number: str) -> str:
    """Return ``number`` as a ``tel:`` URI body: digits, +, * and # only."""
    return _NOT_DIALABLE.sub("", number)


def payload(reply: Reply, knowledge: Knowledge) -> dict[str, Any]:
    """Return the JSON object of one reply.

    Keys: those of :meth:`Reply.as_dict` (intent, text, choices [{id, label}], ids,
    confidence, lang), plus ``dir`` ("ltr"/"rtl") and ``lines``: the text's lines, each a
    list of segments ``{"text": ...}`` or ``{"text": "141", "tel": "141"}`` for an
    emergency number (knowledge/emergency.yaml) inside the emergency-numbers phrase the
    core wrote, so that no other figure in a reply ever becomes a link.
    """
    data = reply.as_dict()
    data["dir"] = direction(reply.lang)
    with language(reply.lang):
        phrase = render.numbers_line(knowledge)
    numbers = sorted({dialable(n.number) for n in knowledge.emergency.numbers} - {""},
                     key=len, reverse=True)
    data["lines"] = [segments(line, phrase, numbers) for line in reply.text.split("\n")]
    return data


def segments(line: str, phrase: str, numbers: list[str]) -> list[Segment]:
    """Cut one line into text segments and ``tel`` segments: each of ``numbers`` (whole,
    not part of a longer figure) inside an occurrence of ``phrase`` is a link.

    The phrase is found whatever Unicode isolates (U+2066-U+2069) the core put around
    Latin runs and numbers in Arabic replies.
    """
    bare = _ISOLATES.sub("", phrase)
    if not numbers or not bare:
        return [{"text": line}]
    found = re.compile("[\u2066-\u2069]*".join(map(re.escape, bare)))
    figure = re.compile(r"(?<![0-9])(" + "|".join(map(re.escape, numbers)) + r")(?![0-9])")
    out: list[Segment] = []
    text, done = "", 0
    for match in found.finditer(line):
        text += line[done:match.start()]
        for index, piece in enumerate(figure.split(match.group())):
            if index % 2:  # the captured numbers sit at odd positions
                if text:
                    out.append({"text": text})
                out.append({"text": piece, "tel": piece})
                text = ""
            else:
                text += piece
        done = match.end()
    text += line[done:]
    if text or not out:
        out.append({"text": text})
    return out
