"""Reloads that cannot freeze the bot (issue 14, item 7): a named pipe or a link leaving the
knowledge folder is refused with a clear problem, a reload has a time limit, and the bot
keeps answering from the last good version while a reload runs (real Application against
the fake Bot API, and the channel-agnostic service)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading

import pytest
from edits import give_cai_bin_a_role
from telegram_test import polling_bot, settings_for, text_of

from bot import reload as reload_module
from bot.core.types import Message
from bot.reload import KnowledgeHolder
from bot.service import AssistantService, reload_in_thread

ADMIN = 4242


@pytest.fixture
def make_pipe(knowledge_copy):
    """Makes ``pipe.yaml``, a named pipe in the knowledge copy. Afterwards a writer opens
    and closes it, so a reader stuck on it (the bug) gets end-of-file and the test ends."""
    path = knowledge_copy / "pipe.yaml"
    yield lambda: os.mkfifo(path)
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
async def bot(fake, knowledge_copy, tmp_path):
    settings = settings_for(fake, database_url=f"sqlite:///{tmp_path}/admin.sqlite3",
                            admin_user_ids=[ADMIN])
    async with polling_bot(settings, KnowledgeHolder(knowledge_copy), hooks=True) as app:
        yield app


class Stuck:
    """check_knowledge replaced by one that waits until ``release()`` (a slow disk)."""

    def __init__(self, monkeypatch, *, after_reading: bool = False):
        self.started, self.gate = threading.Event(), threading.Event()
        real = reload_module.check_knowledge

        def slow(*args, **kwargs):
            found = real(*args, **kwargs) if after_reading else None
            self.started.set()
            self.gate.wait(30)
            return found if after_reading else real(*args, **kwargs)
        monkeypatch.setattr(reload_module, "check_knowledge", slow)

    def release(self) -> None:
        self.gate.set()


def within(seconds: float, call, *args):
    """``call(*args)`` in a daemon thread; the test fails when it has not returned within
    ``seconds`` (a frozen call must fail the test, not hang it)."""
    done: list = []
    worker = threading.Thread(target=lambda: done.append(call(*args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, f"still blocked after {seconds} s"
    return done[0]


# -- Telegram -----------------------------------------------------------------------------
async def test_reload_with_a_named_pipe_is_refused_and_the_bot_keeps_answering(
        fake, bot, make_pipe):
    make_pipe()
    before = bot.bot_data.service.version
    fake.user_sends("/reload", user_id=ADMIN, chat_id=ADMIN)
    fake.user_sends("who is cai bin", user_id=1001, chat_id=1001)
    sent = await fake.wait_for_sent(2, timeout=15)
    by_chat = {m["chat"]["id"]: text_of(m) for m in sent}
    assert "Cai Bin" in by_chat[1001]
    assert "pipe.yaml" in by_chat[ADMIN] and "named pipe" in by_chat[ADMIN]
    assert bot.bot_data.service.version == before


async def test_users_are_answered_while_a_reload_runs(fake, bot, monkeypatch):
    stuck = Stuck(monkeypatch)
    try:
        fake.user_sends("/reload", user_id=ADMIN, chat_id=ADMIN)
        await asyncio.to_thread(stuck.started.wait, 10)
        fake.user_sends("who is cai bin", user_id=1001, chat_id=1001)
        [answer] = await fake.wait_for_sent(1, timeout=10)
        assert answer["chat"]["id"] == 1001 and "Cai Bin" in text_of(answer)
    finally:
        stuck.release()
    [report] = (await fake.wait_for_sent(2, timeout=15))[1:]
    assert report["chat"]["id"] == ADMIN and "unchanged" in text_of(report)


# -- the loader and the holder ------------------------------------------------------------
def test_a_link_leaving_the_folder_is_refused(knowledge_copy, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text((knowledge_copy / "people.yaml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    holder = KnowledgeHolder(knowledge_copy)
    (knowledge_copy / "people.yaml").unlink()
    (knowledge_copy / "people.yaml").symlink_to(outside)
    result = holder.reload("test")
    assert not result.ok
    assert any("people.yaml" in p.file and "outside the knowledge folder" in p.message
               for p in result.problems)


def test_a_loop_of_links_is_a_problem_not_a_crash(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy)
    (knowledge_copy / "loop.yaml").symlink_to("loop.yaml")
    result = holder.reload("test")
    assert not result.ok
    assert any("loop.yaml" in p.file and "loop of links" in p.message for p in result.problems)


def test_a_link_inside_the_folder_is_read(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy)
    (knowledge_copy / "shared").mkdir()
    (knowledge_copy / "people.yaml").rename(knowledge_copy / "shared" / "people.txt")
    (knowledge_copy / "people.yaml").symlink_to(knowledge_copy / "shared" / "people.txt")
    result = holder.reload("test")
    assert result.ok, [str(p) for p in result.problems]


def test_a_reload_over_its_time_limit_is_abandoned_and_never_swapped_in(knowledge_copy,
                                                                        monkeypatch):
    holder = KnowledgeHolder(knowledge_copy, time_limit=0.5)
    before = holder.version
    (knowledge_copy / "people.yaml").write_text(
        (knowledge_copy / "people.yaml").read_text(encoding="utf-8") + "\n# edited\n",
        encoding="utf-8")
    stuck = Stuck(monkeypatch)
    result = holder.reload("slow disk")
    assert not result.ok and "took longer than 0.5 s" in result.problems[0].message
    assert holder.assistant.reply(Message("who is cai bin")).intent != "fallback"
    stuck.release()  # the abandoned reload ends now; what it found is thrown away
    for thread in threading.enumerate():
        if thread.name == "knowledge-reload":
            thread.join(30)
    assert holder.version == before


def test_a_second_reload_while_one_runs_is_refused_at_once(knowledge_copy, monkeypatch):
    holder = KnowledgeHolder(knowledge_copy)
    stuck = Stuck(monkeypatch)
    first = holder.start_reload("first")
    assert stuck.started.wait(10)
    second = holder.reload("second")
    stuck.release()
    assert not second.ok and "another reload is still running" in second.problems[0].message
    assert first.result(timeout=30).ok


async def test_a_change_made_during_a_reload_is_loaded_after_it(knowledge_copy, monkeypatch):
    service = AssistantService(KnowledgeHolder(knowledge_copy))
    stuck = Stuck(monkeypatch, after_reading=True)
    service.holder.start_reload("/reload by admin")
    await asyncio.to_thread(stuck.started.wait, 10)  # it has read the folder already
    give_cai_bin_a_role(knowledge_copy / "people.yaml", "Head of the Delivery Room")
    watcher = asyncio.create_task(reload_in_thread(service, "file change", after_running=True))
    await asyncio.sleep(1)
    assert not watcher.done()  # it waits for the running reload instead of giving up
    stuck.release()
    result = await asyncio.wait_for(watcher, 30)
    assert result.ok and result.serving.trigger == "file change"
    assert "Head of the Delivery Room" in service.handle(
        "web", "someone", Message("who is cai bin")).text


# -- the service (WeChat's admins) --------------------------------------------------------
def test_an_admin_reload_through_the_service_answers_with_a_pipe_in_the_folder(
        knowledge_copy, make_pipe):
    service = AssistantService(KnowledgeHolder(knowledge_copy), admins={"wechat": {"oAdmin"}})
    make_pipe()
    reply = within(20, service.handle, "wechat", "oAdmin", Message("/reload", user_id="oAdmin"))
    assert "pipe.yaml" in reply.text and "named pipe" in reply.text
    assert "Cai Bin" in service.handle("wechat", "oUser", Message("who is cai bin")).text


def test_an_admin_reload_still_running_is_answered_in_seconds(knowledge_copy, monkeypatch):
    service = AssistantService(KnowledgeHolder(knowledge_copy), admins={"wechat": {"oAdmin"}})
    stuck = Stuck(monkeypatch)
    try:
        reply = service.handle("wechat", "oAdmin", Message("/reload", user_id="oAdmin"))
    finally:
        stuck.release()
    assert "still running" in reply.text
