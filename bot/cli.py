"""The ``forumbot`` console script: ``chat``, ``ask`` and ``check``.

Exit status: 0 success; 1 the knowledge has errors (``check``); 2 the knowledge could not be
loaded for answering (the errors are printed on stderr).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bot.channels import console
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.knowledge.loader import check_knowledge
from bot.knowledge.problems import KnowledgeError
from bot.settings import Settings


def _assistant(directory: Path) -> Assistant:
    knowledge, problems = check_knowledge(directory)
    if knowledge is None:
        raise KnowledgeError(problems)
    return Assistant(knowledge)


def cmd_chat(args, settings: Settings) -> int:
    """Interactive terminal chat on the knowledge folder."""
    return console.chat(_assistant(args.knowledge or settings.knowledge_dir), args.explain)


def cmd_ask(args, settings: Settings) -> int:
    """One answer, or one JSON line per stdin line with --jsonl."""
    assistant = _assistant(args.knowledge or settings.knowledge_dir)
    if args.jsonl:
        for stream in (sys.stdin, sys.stdout):
            stream.reconfigure(encoding="utf-8")
        return console.run_jsonl(assistant, sys.stdin, sys.stdout)
    if not args.question:
        print("forumbot ask: give a question, or --jsonl to read questions from stdin",
              file=sys.stderr)
        return 2
    reply = assistant.reply(Message(" ".join(args.question)))
    print(console.format_reply(reply, args.explain))
    return 0


def cmd_check(args, settings: Settings) -> int:
    """Validate a knowledge folder; list every problem; exit 1 when any is an error."""
    directory = args.directory or args.knowledge or settings.knowledge_dir
    knowledge, problems = check_knowledge(directory)
    errors = [p for p in problems if p.severity == "error"]
    if args.format == "json":
        print(json.dumps({"ok": not errors, "version": knowledge.version if knowledge else None,
                          "problems": [p.as_dict() for p in problems]}, ensure_ascii=False))
    else:
        for p in problems:
            print(p)
        if knowledge is not None:
            print(f"OK: {directory} (version {knowledge.version}): {len(knowledge.talks)} talks, "
                  f"{len(knowledge.people)} people, {len(knowledge.doctors)} doctors, "
                  f"{len(knowledge.topics)} topics, {len(problems)} warning(s)")
        else:
            print(f"{len(errors)} error(s) in {directory}: the bot would keep its last good "
                  "knowledge", file=sys.stderr)
    return 1 if errors else 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``forumbot`` with all its subcommands."""
    parser = argparse.ArgumentParser(prog="forumbot", description="Summit Assistant")
    parser.add_argument("--knowledge", type=Path, default=None,
                        help="knowledge folder (default: $KNOWLEDGE_DIR or the bundled one)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("chat", help="chat in the terminal")
    p.add_argument("--explain", action="store_true", help="show candidates and scores")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ask", help="answer one question, or stdin lines with --jsonl")
    p.add_argument("question", nargs="*")
    p.add_argument("--jsonl", action="store_true",
                   help="read one message per stdin line, write one JSON object per line")
    p.add_argument("--explain", action="store_true",
                   help="add the top candidate entries, the alias that matched and its score")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("check", help="validate the knowledge YAML and list every problem")
    p.add_argument("directory", nargs="?", type=Path)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forumbot`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args, settings)
    except KnowledgeError as exc:
        print(f"forumbot: cannot load the knowledge:\n{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
