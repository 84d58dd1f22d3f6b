"""What the Telegram end-to-end tests share."""
from __future__ import annotations

import html


def text_of(message: dict) -> str:
    """The text a user reads in a sent message (HTML entities and bold tags undone)."""
    return html.unescape(message["text"]).replace("<b>", "").replace("</b>", "")
