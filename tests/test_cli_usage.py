"""The ``forumbot`` command line as a new user meets it, run as a process: UTF-8 output
whatever the locale, one line and exit status 2 for every bad option or setting, --version,
and subcommand help that says what each needs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser, main

SCRIPT = Path(sys.executable).parent / "forumbot"
TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def forumbot() -> str:
    path = str(SCRIPT) if SCRIPT.exists() else shutil.which("forumbot")
    assert path, "the forumbot console script is not installed: run pip install -e '.[test]'"
    return path


def run(forumbot: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run forumbot; output as bytes (the test decodes, so no encoding is assumed)."""
    return subprocess.run([forumbot, *args], capture_output=True, timeout=60,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(autouse=True)
def keep_pytest_logging(monkeypatch):
    """main() in this process must not replace pytest's log handlers."""
    monkeypatch.setattr("bot.logs.configure", lambda *args, **kw: None)


def in_process(capsys, *args: str) -> str:
    """Run ``forumbot ARGS`` in this process; return its one line of stderr, checked."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2 and out == "", (status, out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


# -- 10. UTF-8 whatever the locale --------------------------------------------------------
def test_answers_are_written_in_utf8_whatever_the_locale(forumbot):
    proc = run(forumbot, "ask", "谁讲了产后出血？", PYTHONIOENCODING="cp1252", LC_ALL="C")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert "Cai Bin" in proc.stdout.decode("utf-8") and "产后出血" in proc.stdout.decode("utf-8")


def test_jsonl_and_chat_are_utf8_too(forumbot):
    proc = subprocess.run([forumbot, "chat"], input="أبحث عن طبيب تخدير\n/quit\n".encode(),
                          capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONIOENCODING": "cp1252"})
    assert proc.returncode == 0 and "Li Jinbao" in proc.stdout.decode("utf-8")


# -- 11. bad options and settings: one line, exit status 2 --------------------------------
@pytest.mark.parametrize("args,needle", [
    (["report", "stats", "--days", "0"], "--days"),
    (["report", "stats", "--days", "-5"], "--days"),
    (["report", "unanswered", "--days", "many"], "--days"),
    (["report", "unanswered", "--limit", "0"], "--limit"),
    (["ask", "--bogus", "hi"], "--bogus"),
    (["frobnicate"], "frobnicate"),
    ([], "COMMAND"),
])
def test_a_bad_option_is_one_line_and_exit_2(capsys, args, needle):
    assert needle in in_process(capsys, *args)


def test_a_bad_option_as_a_process(forumbot):
    assert "--days" in one_line_error(run(forumbot, "report", "stats", "--days", "0"))


@pytest.mark.parametrize("name,value", [
    ("LOG_LEVEL", "foo"), ("PORT", "eighty"), ("PORT", "70000"), ("DEFAULT_TIMEZONE", "Mars/Base"),
    ("ADMIN_USER_IDS", "12,abc"), ("BROADCAST_RATE", "-1"), ("DATABASE_URL", "not a url"),
    ("TELEGRAM_API_BASE_URL", "localhost:8081/bot"),
])
def test_a_bad_setting_is_one_line_and_exit_2(capsys, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    err = in_process(capsys, "ask", "hi")
    assert name in err and value not in err.replace(name, "")


def test_a_bad_setting_as_a_process(forumbot):
    err = one_line_error(run(forumbot, "ask", "hi", LOG_LEVEL="foo"))
    assert "LOG_LEVEL" in err


def test_an_unreachable_database_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert "DATABASE_URL" in in_process(capsys, "report", "stats", "--days", "3")


@pytest.mark.parametrize("account", ["1087968824", "136817688", "777000"])
def test_service_accounts_are_refused_as_admins_at_start_up(capsys, monkeypatch, account):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_USER_IDS", f"11111111,{account}")
    err = in_process(capsys, "run")
    assert "ADMIN_USER_IDS" in err and account in err and "cannot be an admin" in err
    assert TOKEN not in err


def test_a_service_account_stops_forumbot_run(forumbot):
    err = one_line_error(run(forumbot, "run", TELEGRAM_BOT_TOKEN=TOKEN,
                             ADMIN_USER_IDS="1087968824"))
    assert "GroupAnonymousBot" in err and TOKEN not in err


def test_version(forumbot):
    proc = run(forumbot, "--version")
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == "forumbot 0.1.0"


def test_subcommand_help_says_what_it_needs_with_an_example(forumbot):
    for command, needs in [("run", ["TELEGRAM_BOT_TOKEN"]),
                           ("webhook", ["TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET"])]:
        proc = run(forumbot, command, "--help")
        out = " ".join(proc.stdout.decode().split())
        assert proc.returncode == 0 and "Needs:" in out and all(n in out for n in needs)
        assert "examples: " in out and f"forumbot {command}" in out


def test_every_subcommand_has_needs_and_examples():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"chat", "ask", "check", "run", "webhook", "wechat", "report",
            "announce"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert "Needs:" in text and "examples:" in text and f"forumbot {name}" in text, \
            f"forumbot {name} --help: add it with bot.cli.subcommand(..., needs, examples)"


def test_ask_reads_a_command_split_by_a_tab(capsys):
    assert main(["ask", "/doctor\tmidwife"]) == 0
    out = capsys.readouterr().out
    assert "Refki Ilham" in out and "do not know" not in out
