"""The ``forumbot`` console script: ``chat``, ``ask``, ``check``, ``run`` (Telegram long
polling), ``webhook`` (Telegram webhook server), ``wechat`` (WeChat webhook server),
``web`` (web chat), ``report``, ``announce``, ``test``; ``forumbot --version``.

Exit status: 0 success; 1 the knowledge has errors (``check``); 2 the knowledge could not be
loaded, or an option or a setting is missing or malformed: one line on stderr, never a
secret. Both kinds of error are handled in one place each, for every subcommand: options by
:class:`Parser` (argparse), settings in :func:`main`.

Output is UTF-8 whatever the locale (a Windows console redirected to a file would otherwise
write cp1252, which has no Chinese or Arabic).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from datetime import UTC
from pathlib import Path
from urllib.parse import urlparse

from pydantic import ValidationError

from bot import logs
from bot.knowledge.problems import KnowledgeError
from bot.settings import ConfigError, Settings, describe_errors

EXIT_USAGE = 2  # a bad option or setting, as argparse and sysexits' EX_USAGE-like tools do


class Parser(argparse.ArgumentParser):
    """argparse, with every usage error as ONE line on stderr and exit status 2 (argparse
    prints the whole usage first). Subcommand parsers are of this class too."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        line = " ".join(message.split())
        self.exit(EXIT_USAGE, f"{self.prog}: {line} (see {self.prog} --help)\n")


def count(low: int, high: int):
    """Return an argparse ``type`` for a whole number from ``low`` to ``high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value
    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def subcommand(sub, name: str, summary: str, needs: str, examples: list[str], func):
    """Add subcommand ``name``: its --help says what it does, what it ``needs`` (settings,
    files) and shows ``examples``; returns its parser for the options."""
    parser = sub.add_parser(name, help=summary, description=f"{summary}.\n\n"
                            + textwrap.fill(f"Needs: {needs}.", width=78),
                            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def version() -> str:
    """Return "forumbot X.Y.Z" (the installed distribution's version)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return f"forumbot {installed('summit-assistant')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "forumbot (not installed)"


# The core, the console and the loader are imported by the commands that use them, so that
# --version, --help and a usage error answer without loading them.
def _assistant(directory: Path):
    from bot.core.engine import Assistant
    from bot.knowledge.loader import check_knowledge
    knowledge, problems = check_knowledge(directory, warnings=False)  # warnings: check's job
    if knowledge is None:
        raise KnowledgeError(problems)
    return Assistant(knowledge)


def cmd_chat(args, settings: Settings) -> int:
    """Interactive terminal chat on the knowledge folder. No database unless DATABASE_URL
    is set (then /subscribe, /unsubscribe, /forget and the admin reports work on it)."""
    from bot.channels import console
    from bot.service import open_service
    assistant = _assistant(args.knowledge or settings.knowledge_dir)
    service = open_service(settings, assistant, database=settings.database_configured(),
                           admins={console.CHANNEL: {console.OPERATOR}})
    try:
        return console.chat(service, args.explain)
    finally:
        service.close()


def cmd_ask(args, settings: Settings) -> int:
    """One answer, or one JSON line per stdin line with --jsonl."""
    from bot.channels import console
    from bot.core.types import Message
    assistant = _assistant(args.knowledge or settings.knowledge_dir)
    if args.jsonl:
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
    from bot.knowledge.loader import check_knowledge
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


def _logged_questions(settings: Settings, limit: int) -> tuple[list[tuple[str, int]], str | None]:
    """The most frequent questions of the question log, or ([], why not) without one."""
    url = settings.database_url
    if not url:
        return [], "no database configured (DATABASE_URL)"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return [], f"the database {url} does not exist yet"
    from sqlalchemy.exc import SQLAlchemyError

    from bot.storage import QuestionLog, create_engine_for
    engine = create_engine_for(url)
    try:
        rows = QuestionLog(engine).unanswered(limit=limit)
    except SQLAlchemyError as exc:
        return [], f"the question log could not be read ({type(exc).__name__})"
    finally:
        engine.dispose()
    return [(r.question, r.count) for r in rows], None


def cmd_diff(args, settings: Settings) -> int:
    """Which answers change from OLD_DIR to NEW_DIR; exit 1 when any does, 0 otherwise."""
    from bot.admin import diff
    from bot.knowledge.tests import load_tests
    old, new = _assistant(args.old), _assistant(args.new)
    logged, why = _logged_questions(settings, args.limit)
    asked = diff.questions([load_tests(args.new), load_tests(args.old)], logged)
    found = diff.changes(old, new, asked)
    if args.format == "json":
        print(json.dumps({"asked": len(asked), "logged": len(logged), "changed": len(found),
                          "changes": [c.as_dict() for c in found]}, ensure_ascii=False))
    else:
        for c in found:
            print("\n".join(c.lines()))
        print(f"{len(found)} of {len(asked)} answer(s) change ({len(asked) - len(logged)} test "
              f"question(s), {len(logged)} from the question log"
              + (f"; {why}" if why else "") + ")")
    return 1 if found else 0


def _check_errors(directory: Path) -> list:
    """The errors ``forumbot check`` would report for ``directory`` (tests included)."""
    from bot.admin import testrun
    from bot.knowledge.loader import check_knowledge
    return check_knowledge(directory, warnings=False,
                           checks=lambda a: testrun.check_folder(directory, a))[1]


def cmd_import(args, settings: Settings) -> int:
    """Import the doctor directory from a CSV or a FHIR Bundle (JSON) into the knowledge
    folder; report every rejected row; exit 1 (nothing changed) when the result would not
    pass ``forumbot check``."""
    from bot.admin import importer
    directory = args.knowledge or settings.knowledge_dir
    try:
        rows, rejected = importer.read_file(args.file, directory)
    except OSError as exc:
        print(f"forumbot import: cannot read {args.file} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    report = importer.run_import(directory, rows, rejected, _check_errors, dry_run=args.dry_run)
    if args.format == "json":
        print(json.dumps({"ok": report.ok, "added": report.added, "updated": report.updated,
                          "removed": report.removed, "notes": report.notes,
                          "rejected": [{"line": r.line, "where": r.where, "reason": r.reason}
                                       for r in report.rejected],
                          "problems": [p.as_dict() for p in report.problems],
                          "written": [str(p) for p in report.written]}, ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
        if args.dry_run and report.ok:
            print("dry run: nothing written")
    return 0 if report.ok else 1


def cmd_export(args, settings: Settings) -> int:
    """Write the doctor directory as a FHIR R4 Bundle (JSON) to stdout or --output."""
    from bot.admin.fhir import export_bundle
    from bot.knowledge.loader import load_knowledge
    bundle = export_bundle(load_knowledge(args.knowledge or settings.knowledge_dir))
    text = json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(bundle.get('entry', []))} resources", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


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


def _serve_service(run, args, settings: Settings) -> int:
    """Run a channel's server, ``run(settings, service)``, on the service with live-reloadable
    knowledge and the database of DATABASE_URL (closed after the server stops); returns 0."""
    from bot.reload import KnowledgeHolder
    from bot.service import open_service
    service = open_service(settings, KnowledgeHolder(args.knowledge or settings.knowledge_dir,
                                                     check_tests=settings.reload_check_tests))
    try:
        run(settings, service)
    finally:
        service.close()
    return 0


def cmd_wechat(args, settings: Settings) -> int:
    """WeChat Official Account webhook on WEBHOOK_LISTEN:PORT/wechat (blocks until
    SIGINT/SIGTERM), with live reload and the database of DATABASE_URL."""
    from bot.channels.wechat.app import credentials, run  # only needed here
    credentials(settings)  # missing WeChat settings stop start-up before the knowledge loads
    return _serve_service(run, args, settings)


def cmd_web(args, settings: Settings) -> int:
    """The web chat (page, widget and JSON API) on WEBHOOK_LISTEN:PORT (blocks until
    SIGINT/SIGTERM), with live reload and the database of DATABASE_URL."""
    from bot.channels.web.app import run  # only needed here
    return _serve_service(run, args, settings)


def cmd_report(args, settings: Settings) -> int:
    """Reports for admins from the database: ``unanswered`` questions or reply ``stats``."""
    from datetime import datetime, timedelta

    from bot.service.reports import stats_text, unanswered_text
    from bot.storage import QuestionLog, create_engine_for, migrate
    _needs_database(settings)
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
    bot's broadcast worker sends it at its next pass), ``cancel ID``, ``report ID`` (totals,
    then per channel: sent, in doubt, unreachable, failed, blocked, skipped, pending).
    Exit status 1 when the id is unknown or the announcement's state does not allow the
    action."""
    from bot.broadcast import cancel, list_announcements, report, send_now
    from bot.broadcast.admin import format_report
    from bot.storage import create_engine_for, migrate
    _needs_database(settings)
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
        print(format_report(before))
        return 0
    finally:
        engine.dispose()


def _needs_database(settings: Settings) -> None:
    if not settings.database_url:
        raise ConfigError("DATABASE_URL is empty: this command reads the database")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``forumbot`` with all its subcommands."""
    parser = Parser(prog="forumbot", description="Summit Assistant: the forum's chat "
                    "assistant. Settings come from the environment or a .env file; see "
                    "README.md.")
    parser.add_argument("--version", action="version", version=version())
    parser.add_argument("--knowledge", type=Path, default=None,
                        help="knowledge folder (default: $KNOWLEDGE_DIR or the bundled one)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    knowledge = "the knowledge folder (--knowledge DIR or KNOWLEDGE_DIR; default: the " \
                "bundled one)"

    p = subcommand(sub, "chat", "chat in the terminal", f"{knowledge}. With DATABASE_URL, "
                   "/subscribe, /unsubscribe and /forget are rehearsed for the terminal",
                   ["forumbot chat", "forumbot chat --explain",
                    "printf 'who is cai bin\\n/quit\\n' | forumbot chat"], cmd_chat)
    p.add_argument("--explain", action="store_true", help="show candidates and scores")

    p = subcommand(sub, "ask", "answer one question, or stdin lines with --jsonl", knowledge,
                   ['forumbot ask "who spoke about preeclampsia?"',
                    'forumbot ask --explain "li jin bao"',
                    "forumbot ask --jsonl < questions.txt > answers.jsonl"], cmd_ask)
    p.add_argument("question", nargs="*")
    p.add_argument("--jsonl", action="store_true",
                   help="read one message per stdin line, write one JSON object per line")
    p.add_argument("--explain", action="store_true",
                   help="add the top candidate entries, the alias that matched and its score")

    p = subcommand(sub, "check", "validate the knowledge YAML and list every problem",
                   "a knowledge folder (DIR, else as for the other commands). Exit status 1 "
                   "when it has errors", ["forumbot check", "forumbot check ./knowledge",
                                         "forumbot check --format json"], cmd_check)
    p.add_argument("directory", nargs="?", type=Path)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--write-schemas", action="store_true",
                   help="first (re)write the JSON Schemas of the files into DIR/schemas/")

    p = subcommand(sub, "test", "ask the test questions of tests.yaml; list failures",
                   "a knowledge folder with tests.yaml (DIR, else as for the other commands). "
                   "Exit status 1 when a question gets another answer",
                   ["forumbot test", "forumbot test ./knowledge --format json"], cmd_test)
    p.add_argument("directory", nargs="?", type=Path)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = subcommand(sub, "diff", "which answers change between two knowledge folders",
                   "two knowledge folders; with DATABASE_URL, the question log's most "
                   "frequent questions are asked too. Exit status 1 when an answer changes",
                   ["forumbot diff /srv/knowledge-live ./knowledge",
                    "forumbot diff old/ new/ --limit 100 --format json"], cmd_diff)
    p.add_argument("old", type=Path, metavar="OLD_DIR")
    p.add_argument("new", type=Path, metavar="NEW_DIR")
    p.add_argument("--limit", type=count(1, 1000), default=50,
                   help="most frequent question-log questions to ask (1-1000, default 50)")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = subcommand(sub, "import", "import the doctor directory from a CSV or a FHIR Bundle",
                   f"a CSV (columns in knowledge/README.md) or a FHIR R4 Bundle (.json); "
                   f"{knowledge}. Exit status 1 (nothing changed) when the result would not "
                   "pass forumbot check",
                   ["forumbot import doctors directory.csv",
                    "forumbot --knowledge ./knowledge import doctors bundle.json --dry-run"],
                   cmd_import)
    p.add_argument("what", choices=("doctors",))
    p.add_argument("file", type=Path, help="a .csv file, or a FHIR R4 Bundle (.json)")
    p.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = subcommand(sub, "export", "write the doctor directory as a FHIR R4 Bundle", knowledge,
                   ["forumbot export fhir -o directory.json"], cmd_export)
    p.add_argument("what", choices=("fhir",))
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    subcommand(sub, "run", "run the Telegram bot with long polling",
               f"TELEGRAM_BOT_TOKEN (from @BotFather); optional ADMIN_USER_IDS, "
               f"DATABASE_URL, TELEGRAM_API_BASE_URL; {knowledge}",
               ["TELEGRAM_BOT_TOKEN=123456:ABC-your-token forumbot run",
                "ADMIN_USER_IDS=11111111,22222222 forumbot run"], cmd_run)
    subcommand(sub, "webhook", "run the Telegram bot behind a webhook",
               "TELEGRAM_BOT_TOKEN, WEBHOOK_URL (the public https URL Telegram posts to) and "
               "WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -); optional PORT (default 8080), "
               "WEBHOOK_LISTEN (default 0.0.0.0)",
               ["TELEGRAM_BOT_TOKEN=123456:ABC-your-token WEBHOOK_URL=https://bot.example.org"
                "/telegram WEBHOOK_SECRET=s3cret PORT=8443 forumbot webhook"], cmd_webhook)
    subcommand(sub, "wechat", "serve the WeChat Official Account webhook on PORT at /wechat",
               "WECHAT_TOKEN (the Token of the account's server configuration); for AES safe "
               "mode also WECHAT_ENCODING_AES_KEY (43 characters) and WECHAT_APP_ID; optional "
               "PORT (default 8080), WEBHOOK_LISTEN",
               ["WECHAT_TOKEN=summitToken2023 PORT=8080 forumbot wechat"], cmd_wechat)

    subcommand(sub, "web", "serve the web chat (page at /, widget at /widget.js, JSON API "
               "at /api/messages) on PORT",
               "nothing required; optional PORT (default 8080), WEBHOOK_LISTEN, "
               "WEB_ALLOWED_ORIGINS (sites that may embed the widget), WEB_TRUSTED_PROXIES, "
               f"WEB_RATE_LIMIT_IP, WEB_RATE_LIMIT_CONVERSATION; {knowledge}",
               ["PORT=8000 forumbot web",
                "WEB_ALLOWED_ORIGINS=https://www.hospital.example forumbot web"], cmd_web)

    p = subcommand(sub, "report", "admin reports from the database",
                   "DATABASE_URL (the bot's database; default the SQLite file "
                   "forumbot.sqlite3 of the current folder)",
                   ["forumbot report unanswered --days 7 --limit 50",
                    "forumbot report stats --days 30"], cmd_report)
    p.add_argument("what", choices=("unanswered", "stats"))
    p.add_argument("--days", type=count(1, 3650), default=30,
                   help="period, in days back from today (1-3650, default 30)")
    p.add_argument("--limit", type=count(1, 1000), default=20,
                   help="rows of the unanswered list (1-1000, default 20)")

    p = subcommand(sub, "announce", "announcements in the database: list, send-now ID, "
                   "cancel ID, report ID", "DATABASE_URL (the running bot's database)",
                   ["forumbot announce list", "forumbot announce report welcome-2023",
                    "forumbot announce cancel welcome-2023"], cmd_announce)
    p.add_argument("action", choices=("list", "send-now", "cancel", "report"))
    p.add_argument("id", nargs="?", help="announcement id (all actions but list)")
    return parser


def utf8_streams() -> None:
    """Read and write UTF-8 on the standard streams whatever the locale or
    PYTHONIOENCODING says (undecodable input bytes become U+FFFD instead of an error)."""
    for stream, errors in ((sys.stdin, "replace"), (sys.stdout, "strict"),
                           (sys.stderr, "backslashreplace")):
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower() != "utf-8":
            stream.reconfigure(encoding="utf-8", errors=errors)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forumbot`` console script; returns the exit status."""
    utf8_streams()
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # names the setting and why, never its value
        print(f"forumbot: invalid setting {describe_errors(exc)}", file=sys.stderr)
        return EXIT_USAGE
    secret = [s.get_secret_value() for s in (settings.telegram_bot_token,
                                               settings.webhook_secret, settings.wechat_token,
                                               settings.wechat_encoding_aes_key,
                                               settings.wechat_app_secret,
                                               settings.web_cookie_secret)
              if s is not None]
    if "@" in (settings.database_url or ""):  # a password: SQLAlchemy reads the URL
        from bot.storage.db import database_secrets
        secret += database_secrets(settings.database_url)
    logs.configure(settings.log_level, secret)
    try:
        return args.func(args, settings)
    except KnowledgeError as exc:
        print(f"forumbot: cannot load the knowledge:\n{exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"forumbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # "forumbot ask ... | head": the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except Exception as exc:
        if not _database_error(exc):
            raise
        from bot.storage.db import database_failure  # unreachable, refused, newer schema...
        print(f"forumbot: {database_failure(exc, settings.database_url)}", file=sys.stderr)
        return EXIT_USAGE


def _database_error(exc: Exception) -> bool:
    """True for SQLAlchemy's and Alembic's errors; told without importing either (a
    command without a database never loads them: 0.3 s of start-up)."""
    kinds = tuple(getattr(sys.modules.get(module), name, None) for module, name in
                  (("sqlalchemy.exc", "SQLAlchemyError"), ("alembic.util", "CommandError")))
    found = tuple(k for k in kinds if isinstance(k, type))
    return bool(found) and isinstance(exc, found)


if __name__ == "__main__":
    sys.exit(main())
