"""Which answers change between two knowledge versions (``forumbot diff OLD_DIR NEW_DIR``).

The questions asked are the test questions of both folders (tests.yaml) and, when a
database is configured, the most frequent questions of the question log (the normalised
questions the bot could not answer: the log keeps no other question text). An answer
changes when its intent, the entries it names or its text differ.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.knowledge.tests import LoadedTests

from .testrun import describe, got


@dataclass(frozen=True)
class Change:
    """One question whose answer differs: ``question``, where it comes from (``origin``:
    "tests.yaml:12" or "question log (5x)"), the ``before`` and ``after`` replies."""

    question: str
    origin: str
    before: Reply
    after: Reply

    def lines(self) -> list[str]:
        """Before/after as text lines (the first line of each reply's text too)."""
        def first(reply: Reply) -> str:
            line = reply.text.strip().splitlines()[0] if reply.text.strip() else ""
            return line[:100] + ("..." if len(line) > 100 else "")
        return [f"{self.question}  ({self.origin})",
                f"  before: {describe(self.before)}", f"          {first(self.before)}",
                f"  after:  {describe(self.after)}", f"          {first(self.after)}"]

    def as_dict(self) -> dict:
        """JSON shape: question, origin, before and after (intent, ids, lang, confidence,
        text)."""
        return {"question": self.question, "origin": self.origin,
                "before": {**got(self.before), "text": self.before.text},
                "after": {**got(self.after), "text": self.after.text}}


def questions(tests: list[LoadedTests], logged: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """(question, origin) pairs to ask, each question once: the test questions of every
    folder, then the logged ones (question text, count), in the given order."""
    out: dict[str, str] = {}
    for loaded in tests:
        for q, line in loaded.questions:
            out.setdefault(q.q, f"{loaded.file.name}:{line}" if line else loaded.file.name)
    for text, count in logged:
        out.setdefault(text, f"question log ({count}x)")
    return list(out.items())


def changes(old: Assistant, new: Assistant, asked: list[tuple[str, str]]) -> list[Change]:
    """Ask every question to both versions; return those whose answers differ, in order."""
    out = []
    for text, origin in asked:
        before, after = old.reply(Message(text)), new.reply(Message(text))
        if (before.intent, before.ids, before.text) != (after.intent, after.ids, after.text):
            out.append(Change(text, origin, before, after))
    return out


__all__ = ["Change", "changes", "questions"]
