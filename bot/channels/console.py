"""Console channel: an interactive terminal chat and one-shot answers, around the core.

Choices are shown as numbered lines; typing the number picks the choice (the service keeps
the conversation, see :func:`chat`). Line editing and
history come from the standard ``readline`` module where the platform has it.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.service import AssistantService

HISTORY = Path.home() / ".forumbot_history"
QUIT = {"/quit", "/exit", "quit", "exit"}
LINE_SEPARATORS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def format_reply(reply: Reply, explain: bool = False) -> str:
    """Return a reply as terminal text: the text, numbered choices, and with ``explain``
    the intent, confidence and the best candidates with the alias that matched."""
    lines = [reply.text]
    if reply.choices:
        lines.append("")
        lines += [f"  [{i}] {c.label}" for i, c in enumerate(reply.choices, 1)]
    if explain:
        lines.append("")
        lines.append(f"intent={reply.intent} confidence={reply.confidence:.2f} "
                     f"lang={reply.lang} ids={','.join(reply.ids) or '-'}")
        for c in reply.candidates:
            how = "description" if c.description else "alias"
            lines.append(f"  {c.score:.3f}  {c.key:<40} {how} {c.alias!r}")
        if not reply.candidates:
            lines.append("  (no candidate entries)")
    return "\n".join(lines)


def reply_json(assistant: Assistant, line: str) -> str:
    """Answer one line and return the ``ask --jsonl`` object as one JSON line.

    Keys: intent, text, choices, ids, confidence, lang, latency_ms (float, milliseconds).
    """
    started = time.perf_counter()
    reply = assistant.reply(Message(line))
    data = reply.as_dict()
    data["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    # Line separators that readers split lines on must not appear raw inside one line.
    return json.dumps(data, ensure_ascii=False).translate(LINE_SEPARATORS)


def run_jsonl(assistant: Assistant, stdin: TextIO, stdout: TextIO) -> int:
    """Answer every line of ``stdin`` with one JSON line on ``stdout``, in order; returns 0."""
    for line in stdin:
        stdout.write(reply_json(assistant, line.rstrip("\r\n")) + "\n")
        stdout.flush()
    return 0


def _setup_readline() -> None:
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input() still works
        return
    try:
        readline.read_history_file(HISTORY)
    except OSError:
        pass
    readline.set_history_length(500)
    import atexit

    def save() -> None:
        try:
            readline.write_history_file(HISTORY)
        except OSError:
            pass
    atexit.register(save)


CHANNEL = "console"
CONVERSATION = "console"  # the one conversation (and chat) of the terminal
OPERATOR = "operator"     # the terminal's user: the service's console admin


def chat(service: AssistantService, explain: bool = False, stdin: TextIO | None = None,
         stdout: TextIO | None = None) -> int:
    """Run the interactive chat until end of input or /quit; returns the exit status 0.

    Every line goes to the service (channel "console"): follow-ups, a number picking one of
    the options shown, /language, and, when the service has a database, /subscribe,
    /unsubscribe, /forget (to rehearse a broadcast's audience) and the admin reports.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        _setup_readline()
    welcome = service.handle(CHANNEL, CONVERSATION, Message("/start", user_id=OPERATOR))
    stdout.write(format_reply(welcome) + "\n(type a number to pick an option, /quit to leave)\n")
    while True:
        try:
            line = input("you> ") if interactive else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            stdout.write("\n")
            return 0
        if not interactive:
            if not line:
                return 0
            line = line.rstrip("\r\n")
        if line.strip().lower() in QUIT:
            return 0
        if not interactive:   # piped questions: the transcript shows each one
            stdout.write("you> " + line + "\n")
        reply = service.handle(CHANNEL, CONVERSATION, Message(line, user_id=OPERATOR))
        stdout.write("bot> " + format_reply(reply, explain) + "\n")
        stdout.flush()
