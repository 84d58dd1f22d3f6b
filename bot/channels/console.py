"""Console channel: an interactive terminal chat and one-shot answers, around the core.

Choices are shown as numbered lines; typing the number picks the choice. Line editing and
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


SUBSCRIPTION_COMMANDS = ("/subscribe", "/unsubscribe", "/forget")
CONSOLE_CHAT = "console"  # the one chat of the terminal, in the subscribers table


def simulate_subscription(subscriptions, command: str) -> str:
    """Run /subscribe, /unsubscribe or /forget for the terminal's chat (channel "console",
    so an operator can rehearse a broadcast's audience); returns the text shown."""
    if command == "/subscribe":
        new = subscriptions.subscribe("console", CONSOLE_CHAT)
        return "Subscribed (channel console)." if new else "Already subscribed."
    if command == "/unsubscribe":
        return ("Unsubscribed." if subscriptions.unsubscribe("console", CONSOLE_CHAT)
                else "Not subscribed.")
    return f"Deleted {subscriptions.forget('console', CONSOLE_CHAT)} stored row(s)."


def chat(assistant: Assistant, explain: bool = False, stdin: TextIO | None = None,
         stdout: TextIO | None = None, subscriptions=None) -> int:
    """Run the interactive chat until end of input or /quit; returns the exit status 0.

    ``subscriptions`` (a :class:`bot.storage.Subscriptions`, when a database is configured)
    lets /subscribe, /unsubscribe and /forget be simulated for the terminal's chat.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        _setup_readline()
    welcome = assistant.reply(Message("/start"))
    stdout.write(format_reply(welcome) + "\n(type a number to pick an option, /quit to leave)\n")
    last = welcome
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
        text = line.strip()
        if text.lower() in QUIT:
            return 0
        if text.lower() in SUBSCRIPTION_COMMANDS and subscriptions is not None:
            stdout.write("bot> " + simulate_subscription(subscriptions, text.lower()) + "\n")
            continue
        if text.isdigit() and 1 <= int(text) <= len(last.choices):
            reply = assistant.choose(last.choices[int(text) - 1].id, last.lang)
        elif text.isdigit() and len(text) < 4:
            count = len(last.choices)
            stdout.write("bot> " + (f"Please type a number from 1 to {count}, or a question."
                                    if count else "There is nothing to pick: ask a question.")
                         + "\n")
            continue
        else:
            reply = assistant.reply(Message(line))
        stdout.write("bot> " + format_reply(reply, explain) + "\n")
        stdout.flush()
        last = reply
