"""Start-up with a database that cannot be used or a malformed Bot API URL: one line on
stderr, exit status 2, and neither the bot token nor the database password in it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings

SCRIPT = Path(sys.executable).parent / "forumbot"
TOKEN = "654321:TOKENsecretTOKENsecret12345"
PASSWORD = "pw-Secret-4242"


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "WATCH_KNOWLEDGE": "false", **env}
    return subprocess.run([str(SCRIPT), "run"], env=full, capture_output=True, text=True,
                          timeout=90, cwd=tmp_path)


def not_a_folder(tmp_path: Path) -> str:
    (tmp_path / "afile").write_text("x")
    return f"sqlite:///{tmp_path}/afile/bot.sqlite3"


@pytest.mark.parametrize("setting,value_of,words", [
    # nothing listens on port 9 (discard); the password must not be shown
    ("DATABASE_URL", lambda _: f"postgresql://bot:{PASSWORD}@127.0.0.1:9/forum",
     "cannot use the database"),
    ("DATABASE_URL", not_a_folder, "cannot create the database file"),
    ("TELEGRAM_API_BASE_URL", lambda _: "htp:/api.telegram.org bot", "TELEGRAM_API_BASE_URL"),
    ("TELEGRAM_API_BASE_URL", lambda _: "http://[::1/bot", "TELEGRAM_API_BASE_URL"),
])
def test_start_up_failure_is_one_line_with_status_2(tmp_path, setting, value_of, words):
    proc = start(tmp_path, **{setting: value_of(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("forumbot: ") and words in lines[0]
    for secret in (TOKEN, TOKEN.split(":")[1], PASSWORD):
        assert secret not in proc.stderr


@pytest.mark.parametrize("url", ["https://", "ftp://api.telegram.org/bot", "api.telegram.org/bot",
                                 "http://host:99999/bot", "http://host:0/bot", ""])
def test_malformed_api_urls_are_refused_as_settings(url):
    with pytest.raises(ValueError, match="TELEGRAM_API_BASE_URL|telegram_api_base_url"):
        Settings(telegram_api_base_url=url)


@pytest.mark.parametrize("url", ["https://api.telegram.org/bot", "http://127.0.0.1:8081/bot",
                                 "http://[::1]:8081/bot"])
def test_good_api_urls_are_kept(url):
    assert Settings(telegram_api_base_url=url).telegram_api_base_url == url
