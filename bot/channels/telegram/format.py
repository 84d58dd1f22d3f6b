"""Reply -> Telegram message parts (HTML) and inline keyboard.

All text is escaped: knowledge text and the user's words arrive verbatim whatever they
contain (``<``, ``&``). Long replies are split on line boundaries into parts of at most
4096 characters, each valid HTML on its own (no tag crosses a part).
"""
from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.types import Reply

MAX_MESSAGE = 4096          # Telegram's limit on a message's text, in characters
MAX_CALLBACK_DATA = 64      # Telegram's limit on callback_data, in bytes
MAX_BUTTON_LABEL = 60


def split_lines(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split plain ``text`` into parts whose ESCAPED length is at most ``limit``.

    Parts break between lines; a single line longer than the limit breaks at the last space
    before it (or hard, when there is none). Returns at least one non-blank part.
    """
    parts: list[str] = []
    current = ""
    for line in _fitting_lines(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if current and len(escape(candidate, quote=False)) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    parts.append(current)
    return [p for p in parts if p.strip()] or [" "]


def _fitting_lines(text: str, limit: int):
    for line in text.split("\n"):
        while len(escape(line, quote=False)) > limit:
            head = _cut(line, limit)
            yield head
            line = line[len(head):].lstrip(" ")
        yield line


def _cut(line: str, limit: int) -> str:
    """The longest head of ``line`` whose escaped form fits, ending at a space if possible."""
    lo, hi = 1, len(line)
    while lo < hi:  # longest prefix whose escaped length fits
        mid = (lo + hi + 1) // 2
        if len(escape(line[:mid], quote=False)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    head = line[:lo]
    space = head.rfind(" ")
    return head[:space] if space > lo // 2 else head


def html_parts(reply: Reply) -> list[str]:
    """Return the reply text as escaped HTML parts, the first line in bold."""
    parts = split_lines(reply.text, MAX_MESSAGE - len("<b></b>"))
    out = []
    for i, part in enumerate(parts):
        body = escape(part, quote=False)
        if i == 0:
            first, sep, rest = body.partition("\n")
            body = f"<b>{first}</b>{sep}{rest}"
        out.append(body)
    return out


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Return one button per choice (callback_data = Choice.id), or None without choices.

    Choices whose id would exceed Telegram's 64 bytes are left out rather than truncated,
    since a truncated id would point at the wrong entry.
    """
    rows = [[InlineKeyboardButton(c.label[:MAX_BUTTON_LABEL], callback_data=c.id)]
            for c in reply.choices if 0 < len(c.id.encode()) <= MAX_CALLBACK_DATA]
    return InlineKeyboardMarkup(rows) if rows else None
