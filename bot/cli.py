"""The ``forumbot`` console script: ``chat``, ``ask``, ``check``, ``run`` (Telegram long
polling), ``webhook`` (Telegram webhook server), ``wechat`` (WeChat webhook server) and
``web`` (web chat).

Exit status: 0 success; 1 the knowledge has errors (``check``); 2 the knowledge could not be
loaded, or a setting is missing or malformed (one line on stderr, never a secret).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC
from pathlib import Path
from urllib.parse import urlparse

from alembic.util import CommandError as AlembicError
from sqlalchemy.exc import SQLAlchemyError

from bot import logs
from bot.channels import console
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.knowledge.loader import check_knowledge
from bot.knowledge.problems import KnowledgeError
from bot.settings import ConfigError, Settings
from bot.storage.db import database_failure, database_secrets


def _assistant(directory: Path) -> Assistant:
    knowledge, problems = check_knowledge(directory)
    if knowledge is None:
        raise KnowledgeError(problems)
    return Assistant(knowledge)


def cmd_chat(args, settings: Settings) -> int:
    """Interactive terminal chat on the knowledge folder; with a database, /subscribe,
    /unsubscribe and /forget are simulated for the terminal's chat."""
    assistant = _assistant(args.knowledge or settings.knowledge_dir)
    subscriptions = None
    if settings.database_url:
        from bot.storage import Subscriptions, create_engine_for, migrate
        engine = create_engine_for(settings.database_url)
        migrate(engine)
        subscriptions = Subscriptions(engine)
    return console.chat(assistant, args.explain, subscriptions=subscriptions)


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
    """Validate a knowledge folder and run its test questions (tests.yaml); list every
    problem; exit 1 when any is an error (a failing test question is one)."""
    directory = args.directory or args.knowledge or settings.knowledge_dir
    if args.write_schemas:
        from bot.knowledge.schema import write_schemas
        for path in write_schemas(directory):
            print(f"wrote {path}", file=sys.stderr)  # stderr: --format json stays one document
    from bot.admin import testrun
    knowledge, problems = check_knowledge(
        directory, checks=lambda assistant: testrun.check_folder(directory, assistant))
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    if args.format == "json":
        print(json.dumps({"ok": not errors, "version": knowledge.version if knowledge else None,
                          "errors": len(errors), "warnings": len(warnings),
                          "problems": [p.as_dict() for p in [*errors, *warnings]]},
                         ensure_ascii=False))
    else:
        for p in errors:
            print(p)
        if knowledge is not None:
            print(f"OK: {directory} (version {knowledge.version}): {len(knowledge.talks)} talks, "
                  f"{len(knowledge.people)} people, {len(knowledge.doctors)} doctors, "
                  f"{len(knowledge.topics)} topics")
        for p in warnings:
            print(p)
        print(f"{len(errors)} error(s), {len(warnings)} warning(s)"
              + ("; warnings do not stop the bot" if warnings and not errors else ""))
        if errors:
            print(f"{len(errors)} error(s) in {directory}: the bot would keep its last good "
                  "knowledge", file=sys.stderr)
    return 1 if errors else 0


def cmd_test(args, settings: Settings) -> int:
    """Ask the test questions of DIR/tests.yaml; print every failure; exit 1 on failure."""
    from bot.admin import testrun
    from bot.knowledge.tests import load_tests
    directory = args.directory or args.knowledge or settings.knowledge_dir
    assistant = _assistant(directory)
    tests = load_tests(directory)
    if not tests.file.is_file():
        print(f"no {tests.file.name} in {directory}: no test questions to ask", file=sys.stderr)
        return 0
    outcomes = testrun.run(assistant, tests)
    problems = [*tests.problems, *testrun.unknown_entries(assistant, tests)]
    failed = [o for o in outcomes if not o.ok]
    bad = failed or any(p.severity == "error" for p in problems)
    if args.format == "json":
        print(json.dumps({"ok": not bad, "total": len(outcomes), "failed": len(failed),
                          "problems": [p.as_dict() for p in problems],
                          "failures": [o.as_dict() for o in failed],
                          "uncovered": testrun.uncovered(assistant, tests)},
                         ensure_ascii=False))
    else:
        text = testrun.format_text(tests, outcomes, testrun.uncovered(assistant, tests))
        print("\n".join([*(str(p) for p in problems[len(tests.problems):]), text]))
    return 1 if bad else 0


def _telegram(run, args, settings: Settings) -> int:
    """Start a Telegram runner; start-up failures become one line without secrets."""
    from telegram.error import InvalidToken, NetworkError  # telegram is only needed here

    from bot.reload import KnowledgeHolder
    settings.bot_token()  # a missing token stops start-up before the knowledge is loaded
    holder = KnowledgeHolder(args.knowledge or settings.knowledge_dir,  # reloadable
                             check_tests=settings.reload_check_tests)
    host = urlparse(settings.telegram_api_base_url).netloc or "?"
    try:
        run(settings, holder)
    except InvalidToken:  # its message quotes the token: never print it
        raise ConfigError(f"TELEGRAM_BOT_TOKEN was rejected by the Bot API at {host}") from None
    except NetworkError as exc:
        raise ConfigError(f"cannot reach the Bot API at {host} "
                          f"({type(exc).__name__}); check TELEGRAM_API_BASE_URL and the "
                          "network") from None
    return 0


def cmd_run(args, settings: Settings) -> int:
    """Telegram bot, long polling (blocks until SIGINT/SIGTERM)."""
    from bot.channels.telegram.app import run_polling
    return _telegram(run_polling, args, settings)


def cmd_webhook(args, settings: Settings) -> int:
    """Telegram bot behind PTB's webhook server (blocks until SIGINT/SIGTERM)."""
    from bot.channels.telegram.app import run_webhook
    return _telegram(run_webhook, args, settings)


def cmd_wechat(args, settings: Settings) -> int:
    """WeChat Official Account webhook on WEBHOOK_LISTEN:PORT/wechat (blocks until
    SIGINT/SIGTERM)."""
    from bot.channels.wechat.app import credentials, run  # only needed here
    credentials(settings)  # missing WeChat settings stop start-up before the knowledge loads
    run(settings, _assistant(args.knowledge or settings.knowledge_dir))
    return 0


def cmd_web(args, settings: Settings) -> int:
    """The web chat (page, widget and JSON API) on WEBHOOK_LISTEN:PORT (blocks until
    SIGINT/SIGTERM)."""
    from bot.channels.web.adapter import LocalService
    from bot.channels.web.app import run  # only needed here
    assistant = _assistant(args.knowledge or settings.knowledge_dir)
    run(settings, LocalService(assistant), lambda: assistant.k)
    return 0


def cmd_report(args, settings: Settings) -> int:
    """Reports for admins from the database: ``unanswered`` questions or reply ``stats``."""
    from datetime import datetime, timedelta

    from bot.channels.telegram.admin import stats_text, unanswered_text
    from bot.storage import QuestionLog, create_engine_for, migrate
    engine = create_engine_for(settings.database_url)
    migrate(engine)
    questions = QuestionLog(engine, retention_days=settings.question_retention_days)
    if args.what == "unanswered":
        since = datetime.now(UTC) - timedelta(days=args.days)
        print(unanswered_text(questions.unanswered(since=since, limit=args.limit)))
    else:
        until = datetime.now(UTC).date()
        print(stats_text(questions.stats(until - timedelta(days=args.days - 1), until), args.days))
    return 0


def cmd_announce(args, settings: Settings) -> int:
    """Announcements in the database (DATABASE_URL): ``list``, ``send-now ID`` (the running
    bot's broadcast worker sends it at its next pass), ``cancel ID``, ``report ID``.
    Exit status 1 when the id is unknown or the announcement's state does not allow the
    action."""
    from bot.broadcast import cancel, list_announcements, report, send_now
    from bot.storage import create_engine_for, migrate
    engine = create_engine_for(settings.database_url)
    try:
        migrate(engine)
        if args.action == "list":
            rows = list_announcements(engine)
            if not rows:
                print("no announcements")
            for a in rows:
                counts = ", ".join(f"{n} {status}" for status, n in sorted(a.deliveries.items()))
                first_line = a.text.splitlines()[0] if a.text else ""
                print(f"{a.id}  {a.status}  {a.send_at:%Y-%m-%d %H:%M} UTC  "
                      f"audience={a.audience or 'all'}  by {a.created_by}"
                      + (f"  [{counts}]" if counts else "")
                      + f"\n    {first_line[:70]}")
            return 0
        if not args.id:
            print(f"forumbot announce {args.action}: give the announcement id", file=sys.stderr)
            return 2
        before = report(engine, args.id)
        if before is None:
            print(f"no announcement with id {args.id!r}", file=sys.stderr)
            return 1
        if args.action == "send-now":
            if send_now(engine, args.id):
                print(f"{args.id}: due now; the running bot sends it at its next pass")
                return 0
            print(f"{args.id} is {before.status}, not scheduled: nothing changed",
                  file=sys.stderr)
            return 1
        if args.action == "cancel":
            if cancel(engine, args.id):
                print(f"{args.id}: cancelled")
                return 0
            print(f"{args.id} is {before.status}; only scheduled announcements can be "
                  "cancelled: nothing changed", file=sys.stderr)
            return 1
        print(f"{before.id}: {before.status}; sent {before.sent}, failed {before.failed}, "
              f"blocked {before.blocked}, skipped {before.skipped}, pending {before.pending}"
              + (f"; started {before.started_at:%Y-%m-%d %H:%M} UTC" if before.started_at
                 else "")
              + (f"; finished {before.finished_at:%Y-%m-%d %H:%M} UTC" if before.finished_at
                 else ""))
        return 0
    finally:
        engine.dispose()


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
    p.add_argument("--write-schemas", action="store_true",
                   help="first (re)write the JSON Schemas of the files into DIR/schemas/")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("test", help="ask the test questions of tests.yaml; list failures")
    p.add_argument("directory", nargs="?", type=Path)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("run", help="run the Telegram bot with long polling")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("webhook", help="run the Telegram bot behind a webhook (PORT, WEBHOOK_URL)")
    p.set_defaults(func=cmd_webhook)
    p = sub.add_parser("wechat", help="serve the WeChat Official Account webhook on "
                                      "PORT at /wechat (WECHAT_TOKEN)")
    p.set_defaults(func=cmd_wechat)
    p = sub.add_parser("web", help="serve the web chat (page at /, widget at /widget.js, "
                                   "JSON API at /api/messages) on PORT")
    p.set_defaults(func=cmd_web)
    p = sub.add_parser("report", help="admin reports from the database (DATABASE_URL)")
    p.add_argument("what", choices=("unanswered", "stats"))
    p.add_argument("--days", type=int, default=30, help="period, in days back from today")
    p.add_argument("--limit", type=int, default=20, help="rows of the unanswered list")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("announce", help="announcements in the database (DATABASE_URL): "
                                        "list, send-now ID, cancel ID, report ID")
    p.add_argument("action", choices=("list", "send-now", "cancel", "report"))
    p.add_argument("id", nargs="?", help="announcement id (all actions but list)")
    p.set_defaults(func=cmd_announce)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forumbot`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError: name the setting, not its value
        problems = "; ".join(f"{str(e['loc'][0]).upper()} ({e['msg']})" for e in exc.errors())
        print(f"forumbot: invalid setting(s): {problems}", file=sys.stderr)
        return 2
    secret = [s.get_secret_value() for s in (settings.telegram_bot_token,
                                               settings.webhook_secret, settings.wechat_token,
                                               settings.wechat_encoding_aes_key)
              if s is not None]
    logs.configure(settings.log_level, [*secret, *database_secrets(settings.database_url)])
    try:
        return args.func(args, settings)
    except KnowledgeError as exc:
        print(f"forumbot: cannot load the knowledge:\n{exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"forumbot: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, AlembicError) as exc:  # unreachable, refused, newer schema...
        print(f"forumbot: {database_failure(exc, settings.database_url)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # "forumbot ask ... | head": the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
