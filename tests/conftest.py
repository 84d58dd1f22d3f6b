"""Shared fixtures: the bundled knowledge, one Assistant over it, and a way to ask it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from dbtest import database_url, db  # noqa: F401 - shared fixtures (SQLite, PostgreSQL)
from fake_bot_api import FakeBotApi
from telegram_test import bot, database  # noqa: F401 - the database-backed Telegram bot

from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="session")
def knowledge():
    return load_knowledge(KNOWLEDGE)


@pytest.fixture(scope="session")
def assistant(knowledge) -> Assistant:
    return Assistant(knowledge)


@pytest.fixture(scope="session")
def ask(assistant):
    def _ask(text: str) -> Reply:
        return assistant.reply(Message(text))
    return _ask


@pytest.fixture
async def fake():
    """A fake Telegram Bot API server on loopback (tests/fake_bot_api.py), for one test."""
    async with FakeBotApi() as server:
        yield server


@pytest.fixture(autouse=True)
def no_database_in_the_checkout(tmp_path, monkeypatch):
    """Processes started by a test keep their SQLite file in the test's folder."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/forumbot.sqlite3")


@pytest.fixture(autouse=True)
def parse_cache_in_the_test_folder(tmp_path, monkeypatch):
    """The YAML parse cache of a test (and of the processes it starts) is its own."""
    monkeypatch.setenv("FORUMBOT_CACHE_DIR", str(tmp_path / "parse-cache"))


@pytest.fixture
def knowledge_copy(tmp_path) -> Path:
    """A writable copy of the bundled knowledge folder, for edits a test makes."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@dataclass
class Ran:
    """What one in-process ``forumbot`` run gave: exit status, stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def forumbot_here(capsys):
    """Run ``forumbot ARGS`` in this process (faster than a subprocess; the console script
    itself is tested in test_cli): returns a :class:`Ran`."""
    from bot.cli import main

    def _run(*args) -> Ran:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)
    return _run

