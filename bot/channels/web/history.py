"""What each web conversation shows, so that a page reload (or a second tab) shows the
same conversation: the last MAX_TURNS entries, at most MAX_CHARS characters, of the last
MAX_CONVERSATIONS conversations, kept TTL seconds after their last message, in this
process's memory only (the user's words are never written to disk or logs by the web
channel). The character budget bounds memory: 40 turns of 2,000-character messages in
5,000 conversations took 0.9 GiB; with it, at most 5,000 x 8,000 characters.
"""
from __future__ import annotations

from typing import Any

from bot.channels.wechat.cache import RecentCache

MAX_CONVERSATIONS = 5000
MAX_TURNS = 40            # entries kept per conversation (a question and its answer are two)
MAX_CHARS = 8000          # characters kept per conversation (texts and choice labels)
TTL = 12 * 3600.0         # seconds a conversation is kept after its last message

Entry = dict[str, Any]


class Transcripts:
    """Conversation id -> its entries, oldest first.

    An entry is ``{"role": "user", "text": ...}`` or ``{"role": "bot", "reply": <payload of
    bot.channels.web.format.payload>}``. Not thread-safe: used from the event loop only.
    """

    def __init__(self, cache: RecentCache[str, list[Entry]] | None = None):
        self._cache = cache if cache is not None else RecentCache(MAX_CONVERSATIONS, TTL)

    def entries(self, conversation: str) -> list[Entry]:
        """Return the entries of ``conversation`` (empty when unknown or expired)."""
        return list(self._cache.get(conversation) or [])

    def add(self, conversation: str, *entries: Entry) -> None:
        """Append ``entries``, keeping the last MAX_TURNS within MAX_CHARS characters (the
        newest question and answer always), and refresh the conversation."""
        kept = ((self._cache.get(conversation) or []) + list(entries))[-MAX_TURNS:]
        size = sum(_chars(entry) for entry in kept)
        while size > MAX_CHARS and len(kept) > len(entries):
            size -= _chars(kept.pop(0))
        self._cache.put(conversation, kept)

    def forget(self, conversation: str) -> None:
        """Drop everything shown in ``conversation`` (after /forget)."""
        self._cache.put(conversation, [])

    def label(self, conversation: str, choice_id: str) -> str | None:
        """Return the label of ``choice_id`` in the conversation's latest reply that offered
        it, or None when it was never offered (a forged or very old id)."""
        for entry in reversed(self._cache.get(conversation) or []):
            for choice in entry.get("reply", {}).get("choices", ()):
                if choice["id"] == choice_id:
                    return str(choice["label"])
        return None


def _chars(entry: Entry) -> int:
    """Characters an entry holds: the user's text, or the reply's text and choice labels."""
    if "reply" not in entry:
        return len(str(entry.get("text", "")))
    reply = entry["reply"]
    return len(str(reply.get("text", ""))) + sum(len(str(c.get("label", "")))
                                                 for c in reply.get("choices", ()))
