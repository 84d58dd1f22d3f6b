"""Reply -> the Content of a WeChat passive text reply.

WeChat shows plain text (no Markdown, no HTML; the core's text is plain already) and
refuses a passive text reply whose Content exceeds 2048 BYTES of UTF-8. A longer answer is
cut at the last line or sentence boundary that fits and ends with :func:`shortened`.
Choices follow as numbered lines ("1. label") while they fit; the follower picks one by
sending its number.
"""
from __future__ import annotations

import re

from bot.core.types import Choice, Reply
from bot.i18n import _, language


def shortened() -> str:
    """Return the note ending a shortened reply, in the current language."""
    return _("… (shortened; ask a more precise question)")


def pick_hint() -> str:
    """Return the hint under numbered choices, in the current language."""
    return _("(Reply with a number to choose.)")

MAX_BYTES = 2048            # WeChat's limit on a passive text reply's Content, UTF-8 bytes
# Said before any text is read, so in the two languages most WeChat followers use.
TEXT_ONLY = ("I can only read text messages. Please type your question.\n"
             "我只能读取文字消息，请直接输入您的问题。")

# Characters XML 1.0 forbids (a reply containing one would be rejected as a whole).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Where a cut may end: after a line, or after a sentence's closing punctuation.
_BOUNDARY = re.compile(r"\n|[.!?;؟](?=\s)|[。！？；]")


def size(text: str) -> int:
    """Return the length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def xml_safe(text: str) -> str:
    """Return ``text`` without the characters XML 1.0 cannot carry (controls other than
    tab and newline, lone surrogates, U+FFFE/U+FFFF); carriage returns become newlines."""
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def shorten(text: str, limit: int = MAX_BYTES) -> str:
    """Return ``text`` unchanged when it fits in ``limit`` bytes, else its longest head
    ending at a line or sentence boundary, followed by a new line and :func:`shortened`.

    A head whose last boundary lies in its first third is cut at its last space instead
    (or hard, between two characters, when it has none). The result is at most ``limit``
    bytes.
    """
    if size(text) <= limit:
        return text
    tail = "\n" + shortened()
    budget = max(limit - size(tail), 0)
    head = text.encode("utf-8")[:budget].decode("utf-8", "ignore")  # whole characters
    ends = [m.end() for m in _BOUNDARY.finditer(head)]
    if ends and ends[-1] > len(head) // 3:
        head = head[:ends[-1]]
    else:
        space = head.rfind(" ")
        if space > len(head) // 3:
            head = head[:space]
    return head.rstrip() + tail


def content(reply: Reply, limit: int = MAX_BYTES) -> tuple[str, tuple[Choice, ...]]:
    """Return the Content for ``reply`` and the choices it shows, numbered from 1.

    The text comes first (shortened to ``limit`` bytes when needed); the choices follow as
    "1. label" lines with :func:`pick_hint`, as many as fit whole, best first; a shortened
    text shows none. The added wording is in the reply's language.
    """
    with language(reply.lang):
        return _content(reply, limit)


def _content(reply: Reply, limit: int) -> tuple[str, tuple[Choice, ...]]:
    text = xml_safe(reply.text).strip() or "…"
    if size(text) > limit:
        return shorten(text, limit), ()
    lines: list[str] = []
    shown: list[Choice] = []
    for number, choice in enumerate(reply.choices, 1):
        label = " ".join(xml_safe(choice.label).split())
        candidate = lines + [f"{number}. {label}"]
        if size(_with_choices(text, candidate)) > limit:
            break
        lines, shown = candidate, shown + [choice]
    return (_with_choices(text, lines) if lines else text), tuple(shown)


def _with_choices(text: str, lines: list[str]) -> str:
    return text + "\n\n" + "\n".join(lines) + "\n" + pick_hint()
