"""Admin commands and live reload end to end: the real Application and the real
``forumbot run`` process against the fake Bot API, a knowledge copy and a SQLite file."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from edits import give_cai_bin_a_role
from telegram_test import polling_bot, settings_for, text_of

from bot.reload import KnowledgeHolder

ADMIN = 4242


@pytest.fixture
async def bot(fake, knowledge_copy, tmp_path):
    settings = settings_for(fake, database_url=f"sqlite:///{tmp_path}/admin.sqlite3",
                            admin_user_ids=[ADMIN], watch_knowledge=True)
    async with polling_bot(settings, KnowledgeHolder(knowledge_copy), hooks=True) as app:
        yield app


async def test_admin_commands_do_not_exist_for_others(fake, bot):
    fake.user_sends("/reload", user_id=1001, chat_id=1001)
    fake.user_sends("/unanswered", user_id=1001, chat_id=1001)
    sent = await fake.wait_for_sent(2)
    assert "I do not know the command /reload" in text_of(sent[0])
    assert "I do not know the command /unanswered" in text_of(sent[1])


async def test_version_and_reload_for_an_admin(fake, bot):
    fake.user_sends("/version", user_id=ADMIN, chat_id=ADMIN)
    [version] = await fake.wait_for_sent(1)
    holder = bot.bot_data.service.holder
    assert text_of(version).startswith(f"Knowledge version {holder.version.version}")
    assert "(startup)" in text_of(version)
    fake.user_sends("/reload", user_id=ADMIN, chat_id=ADMIN)
    sent = await fake.wait_for_sent(2)
    assert text_of(sent[1]).startswith("Knowledge unchanged: serving version")


async def test_a_good_edit_is_live_within_seconds(fake, bot, knowledge_copy):
    people = knowledge_copy / "people.yaml"
    give_cai_bin_a_role(people, "Head of the Delivery Room")
    holder = bot.bot_data.service.holder
    for _ in range(100):  # the watcher reloads within about half a second
        if holder.version.trigger == "file change":
            break
        await asyncio.sleep(0.1)
    assert holder.version.trigger == "file change"
    fake.user_sends("who is cai bin")
    [reply] = await fake.wait_for_sent(1)
    assert "Head of the Delivery Room" in text_of(reply)


async def test_a_broken_edit_is_reported_to_admins_and_the_old_version_answers(
        fake, bot, knowledge_copy):
    event = knowledge_copy / "event.yaml"
    event.write_text(event.read_text(encoding="utf-8").replace(
        "  start_time:\n", "  start_time: 9:30\n", 1), encoding="utf-8")
    line = event.read_text(encoding="utf-8").splitlines().index("  start_time: 9:30") + 1
    [report] = await fake.wait_for_sent(1, timeout=10)
    assert report["chat"]["id"] == ADMIN
    assert "Knowledge update REJECTED: 1 error(s)" in text_of(report)
    assert f"event.yaml:{line}:15: error: event.start_time:" in text_of(report)
    fake.user_sends("who presided over the opening ceremony")
    sent = await fake.wait_for_sent(2)
    assert "Liu Fang" in text_of(sent[1])


async def test_unanswered_questions_and_stats(fake, bot):
    for question in ("what is the price of parking", "What is the price of parking?",
                     "who spoke about preeclampsia"):
        fake.user_sends(question)
    await fake.wait_for_sent(3)
    fake.user_sends("/unanswered", user_id=ADMIN, chat_id=ADMIN)
    fake.user_sends("/stats 1", user_id=ADMIN, chat_id=ADMIN)
    sent = await fake.wait_for_sent(5)
    assert "2x  what is the price of parking" in text_of(sent[3])
    assert "1001" not in text_of(sent[3])  # no user ids are kept
    assert text_of(sent[4]).startswith("Last 1 day(s): 3 answer(s).")
    assert "fallback 2" in text_of(sent[4]) and "session 1" in text_of(sent[4])


async def test_sighup_reloads_a_running_forumbot(fake, knowledge_copy, tmp_path):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL":
           fake.base_url, "KNOWLEDGE_DIR": str(knowledge_copy), "WATCH_KNOWLEDGE": "false",
           "DATABASE_URL": f"sqlite:///{tmp_path}/run.sqlite3", "ADMIN_USER_IDS": str(ADMIN)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "forumbot"), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await fake.wait_for_call("getUpdates", timeout=20)
        people = knowledge_copy / "people.yaml"
        give_cai_bin_a_role(people, "Head of the Delivery Room")
        proc.send_signal(signal.SIGHUP)
        for attempt in range(50):
            fake.user_sends("who is cai bin")
            [*_, reply] = await fake.wait_for_sent(attempt + 1, timeout=5)
            if "Head of the Delivery Room" in text_of(reply):
                break
            await asyncio.sleep(0.1)
        assert "Head of the Delivery Room" in text_of(reply)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, timeout=20)
    assert proc.returncode == 0


async def test_an_edit_changing_a_tested_answer_is_refused_until_forced(fake, bot, knowledge_copy):
    question = "who spoke about bleeding after birth"  # tests.yaml: Cai Bin's talk answers it
    people = knowledge_copy / "people.yaml"
    people.write_text(people.read_text(encoding="utf-8").replace(
        "aliases: [Jihane Brini, Brini,", "aliases: [Jihane Brini, bleeding after birth, Brini,",
        1), encoding="utf-8")
    [report] = await fake.wait_for_sent(1, timeout=10)
    assert report["chat"]["id"] == ADMIN
    text = text_of(report)
    assert "Knowledge update REJECTED: 1 test question(s) of tests.yaml" in text
    assert f"'{question}' expects topic:postpartum-hemorrhage" in text
    assert "before: session topic:postpartum-hemorrhage" in text
    assert "new:    speaker person:brini-jihane" in text
    fake.user_sends(question)
    sent = await fake.wait_for_sent(2)
    assert "Cai Bin" in text_of(sent[1])  # the last good version answers
    fake.user_sends("/reload force", user_id=ADMIN, chat_id=ADMIN)
    sent = await fake.wait_for_sent(3)
    assert text_of(sent[2]).startswith("Knowledge reloaded: now serving version")
    fake.user_sends(question)
    sent = await fake.wait_for_sent(4)
    assert "Brini Jihane" in text_of(sent[3])
