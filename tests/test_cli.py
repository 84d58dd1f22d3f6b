"""The ``forumbot`` console script end to end, as installed (subprocesses, real stdin)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "forumbot"


@pytest.fixture(scope="module")
def forumbot() -> str:
    path = str(SCRIPT) if SCRIPT.exists() else shutil.which("forumbot")
    assert path, "the forumbot console script is not installed: run pip install -e '.[test]'"
    return path


def run(forumbot, *args, stdin: str = "", env=None):
    return subprocess.run([forumbot, *args], input=stdin, capture_output=True, text=True,
                          encoding="utf-8", timeout=60, env=env)


def test_ask_jsonl_answers_every_line_in_order(forumbot):
    lines = ["Who spoke about preeclampsia?", "", "我怀孕了，大出血", "what is the capital of France",
             "麻醉医生", "x" * 20_000]
    proc = run(forumbot, "ask", "--jsonl", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(replies) == len(lines)
    for r in replies:
        assert set(r) == {"intent", "text", "choices", "ids", "confidence", "lang", "latency_ms"}
        assert 0 <= r["confidence"] <= 1 and r["latency_ms"] >= 0
    assert replies[0]["intent"] == "session" and "Brini Jihane" in replies[0]["text"]
    assert replies[2]["intent"] == "emergency" and replies[2]["lang"] == "zh"
    assert replies[3]["intent"] == "fallback"
    assert replies[4]["intent"] == "doctor" and "Li Jinbao" in replies[4]["text"]


def test_ask_jsonl_keeps_one_line_per_reply_with_unicode_line_separators(forumbot):
    lines = ["/foo\u2028bar", "/x\u0085y", "Cai\u2029Bin"]
    proc = run(forumbot, "ask", "--jsonl", stdin="\n".join(lines) + "\n")
    assert len(proc.stdout.splitlines()) == 3
    assert [json.loads(x)["intent"] for x in proc.stdout.splitlines()][:2] == ["help", "help"]


def test_ask_one_question_with_explain(forumbot):
    proc = run(forumbot, "ask", "--explain", "who is brinni jihan")
    assert proc.returncode == 0
    assert "Brini Jihane" in proc.stdout
    assert "person:brini-jihane" in proc.stdout and "intent=speaker" in proc.stdout


def test_chat_reads_questions_and_numbered_choices(forumbot):
    proc = run(forumbot, "chat", stdin="find a doctor\n2\n/quit\n")
    assert proc.returncode == 0
    out = proc.stdout
    assert "Hello! I am Summit Assistant" in out
    assert "[2] Anesthesiology" in out
    assert "Li Jinbao: Anesthesiology." in out  # choice 2 answered
    # piped questions are echoed, so the transcript reads as a conversation
    assert "you> find a doctor\n" in out and out.index("you> 2\n") < out.index("Li Jinbao: An")


def test_check_passes_on_the_bundled_knowledge(forumbot):
    proc = run(forumbot, "check")
    assert proc.returncode == 0 and proc.stdout.startswith("OK:")


def test_check_lists_errors_and_fails(forumbot, knowledge_copy):
    f = knowledge_copy / "event.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("  start_time:\n", "  start_time: 9:30\n"),
                 encoding="utf-8")
    line = f.read_text(encoding="utf-8").splitlines().index("  start_time: 9:30") + 1
    proc = run(forumbot, "check", str(knowledge_copy))
    assert proc.returncode == 1
    assert f"{f}:{line}:15: error: event.start_time:" in proc.stdout
    data = json.loads(run(forumbot, "check", str(knowledge_copy), "--format", "json").stdout)
    assert data["ok"] is False and data["problems"][0]["line"] == line


def test_ask_with_broken_knowledge_says_why_and_exits_2(forumbot, knowledge_copy):
    (knowledge_copy / "people.yaml").write_text("people: [\n", encoding="utf-8")
    proc = run(forumbot, "--knowledge", str(knowledge_copy), "ask", "hello")
    assert proc.returncode == 2
    assert "people.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_chat_subscribes_the_terminal_in_the_database(forumbot, tmp_path):
    database = tmp_path / "console.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    proc = run(forumbot, "chat", stdin="/subscribe\n/subscribe\n/unsubscribe\n/subscribe\n",
               env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("bot> ")]
    # the same replies as on every channel (the service's)
    assert lines == ["bot> You are subscribed to the forum's announcements. Send /unsubscribe "
                     "to stop.",
                     "bot> You were already subscribed to the forum's announcements.",
                     "bot> You are unsubscribed: no more announcements will be sent to you.",
                     "bot> You are subscribed to the forum's announcements. Send /unsubscribe "
                     "to stop."]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT channel, chat_id, status FROM subscribers").fetchall() == [
            ("console", "console", "active")]
    proc = run(forumbot, "chat", stdin="/forget\n", env=env)
    assert "bot> Everything stored about you has been deleted." in proc.stdout
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (0,)


def without_database(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, **extra}


def test_chat_runs_in_a_read_only_folder_without_a_database(forumbot, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    folder.chmod(0o555)
    try:
        proc = subprocess.run([forumbot, "chat"], input="who is cai bin\nwhat did he talk about?\n",
                              capture_output=True, text=True, encoding="utf-8", timeout=60,
                              cwd=folder, env=without_database(HOME=str(home)))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        answers = [ln for ln in proc.stdout.splitlines() if ln.startswith("bot> ")]
        assert answers[0].startswith("bot> Cai Bin") and answers[1].startswith("bot> Cai Bin")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("url_of", [
    lambda tmp: f"sqlite:///{tmp}/not-a-folder/forumbot.sqlite3",   # its folder is a file
    lambda tmp: f"sqlite:///{tmp}/garbage.sqlite3",                  # not a database file
])
def test_chat_with_a_database_that_cannot_be_opened_says_so_in_one_line(forumbot, tmp_path,
                                                                         url_of):
    (tmp_path / "not-a-folder").write_text("a file", encoding="utf-8")
    (tmp_path / "garbage.sqlite3").write_bytes(b"this is not SQLite" * 100)
    proc = run(forumbot, "chat", stdin="hello\n", env={**os.environ, "DATABASE_URL": url_of(tmp_path)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("forumbot: "), proc.stderr
    assert "database" in lines[0].lower() and "Traceback" not in proc.stderr
