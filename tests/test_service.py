"""The channel-agnostic service: conversations that remember, follow-ups in four languages,
the language preference, shared state between instances, commands and admin reports."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dbtest import FakeClock

from bot.core.types import Message
from bot.service import AssistantService
from bot.storage import MemoryConversations, Storage
from bot.storage.models import utc_now

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def service(assistant, clock) -> AssistantService:
    return AssistantService(assistant, clock=clock, admins={"web": {"admin-1"}})


def talk(service: AssistantService, *texts: str, conversation: str = "c1", channel: str = "web"):
    return [service.handle(channel, conversation, Message(t)) for t in texts]


# Three turns each: a name, a follow-up by pronoun, then another follow-up or a new name.
CONVERSATIONS = {
    "en": (["who is cai bin", "what did he talk about?", "what about Li Jinbao?"],
           ["Cai Bin", "Cai Bin", "Li Jinbao"], "Talk subject"),
    "fr": (["qui est Brini Jihane", "et elle ?", "de quoi a-t-elle parlé ?"],
           ["Brini Jihane"] * 3, "Sujet de l'intervention"),
    "zh": (["Cai Bin 是谁", "他讲了什么？", "他呢"], ["Cai Bin"] * 3, "报告主题"),
    "ar": (["شكون هي Brini Jihane", "و هي، على شنو هضرات؟", "و هو؟"],
           ["Brini Jihane"] * 3, "موضوع المحاضرة"),
}


@pytest.mark.parametrize("lang", CONVERSATIONS)
def test_a_three_turn_conversation_with_follow_ups(service, lang):
    texts, names, marker = CONVERSATIONS[lang]
    replies = talk(service, *texts)
    for reply, name in zip(replies, names):
        assert reply.intent == "speaker" and reply.lang == lang
        assert reply.text.replace("\u2068", "").replace("\u2069", "").find(name) >= 0
        assert marker in reply.text
    # without the conversation, the follow-up alone names nobody
    alone = service.handle("web", "someone-else", Message(texts[1]))
    assert alone.intent != "speaker"


def test_a_pronoun_after_a_session_stands_for_its_speaker(service):
    first, second = talk(service, "who spoke about preeclampsia?", "what did she talk about")
    assert first.intent == "session"
    assert second.intent == "speaker" and second.text.startswith("Brini Jihane")


def test_a_pronoun_with_several_people_in_context_asks_which(service):
    _, question = talk(service, "/speakers", "what did he talk about?")
    assert question.intent == "fallback" and question.confidence < 0.55
    assert all(c.id.startswith("person:") for c in question.choices)
    assert len(question.choices) > 1


def test_an_explicit_name_wins_over_the_context(service):
    _, other = talk(service, "who is cai bin", "and what about refki ilham?")
    assert other.text.startswith("Refki Ilham")


@pytest.mark.parametrize("pick", ["the second one", "2", "le deuxième", "第二个", "الثاني"])
def test_an_ordinal_picks_a_choice_shown(service, pick):
    menu, picked = talk(service, "find a doctor", pick)
    assert menu.choices[1].id == "specialty:anesthesiology"
    assert picked.intent == "doctor" and "Li Jinbao" in picked.text


def test_a_number_past_the_choices_says_how_to_pick(service):
    menu, picked = talk(service, "what is the capital of France", "9")
    assert picked.intent == "fallback"
    assert f"from 1 to {len(menu.choices)}" in picked.text


def test_tell_me_more_opens_the_last_subject(service):
    _, more = talk(service, "who spoke about preeclampsia?", "tell me more")
    assert "Brini Jihane" in more.text and more.ids


def test_context_expires_after_thirty_minutes_of_silence(service, clock):
    talk(service, "/language fr", "who is cai bin")
    clock.advance(minutes=29)
    assert talk(service, "and him?")[0].text.startswith("Cai Bin")
    clock.advance(minutes=31)
    late = talk(service, "and him?")[0]
    assert not late.text.startswith("Cai Bin")
    assert late.lang == "fr"  # the language preference is kept until /forget


def test_a_message_naming_a_language_chooses_it(service):
    confirm, answer = talk(service, "français", "who is cai bin")
    assert confirm.intent == "command" and confirm.text == "Je répondrai en français."
    assert "Sujet de l'intervention" in answer.text
    auto, english = talk(service, "/language auto", "who is cai bin")
    assert "Talk subject" in english.text
    assert service.language_of("web", "c1") is None


def test_a_picked_choice_keeps_the_conversation_language(service):
    greeting = talk(service, "Bonjour !")[0]
    assert greeting.lang == "fr"
    picked = service.choose("web", "c1", "person:cai-bin")
    assert picked.lang == "fr" and "Sujet de l'intervention" in picked.text


def test_forged_choices_get_the_expired_reply(service):
    reply = service.choose("web", "c1", "person:../../etc/passwd")
    assert reply.intent == "fallback" and "expired" in reply.text
    assert not service.knows("lang:xx") and service.knows("lang:fr")


def test_language_menu_and_unknown_codes(service):
    menu = talk(service, "/language klingon")[0]
    assert [c.id for c in menu.choices] == ["lang:en", "lang:fr", "lang:ar", "lang:zh",
                                            "lang:auto"]
    assert service.choose("web", "c1", "lang:zh").text == "我会用中文回答。"
    with pytest.raises(ValueError):
        service.set_language("web", "c1", "xx")


def test_admin_commands_are_for_admins_only(service):
    stranger = service.handle("web", "c1", Message("/version", user_id="someone"))
    assert "/version" in stranger.text and stranger.intent == "help"
    admin = service.handle("web", "c1", Message("/version", user_id="admin-1"))
    assert admin.intent == "command" and admin.text.startswith("Knowledge version ")
    stats = service.handle("web", "c1", Message("/stats", user_id="admin-1"))
    assert stats.text == "No database is configured."


def test_error_reports_are_rate_limited(service, clock):
    first = service.error_report("a message", RuntimeError("secret text"))
    assert first is not None and "RuntimeError" in first and "secret text" not in first
    assert service.error_report("a message", ValueError()) is None
    clock.advance(minutes=11)
    again = service.error_report("a message", KeyError())
    assert again is not None and "1 more error" in again


def test_a_failing_store_does_not_stop_answering(assistant):
    class Broken(MemoryConversations):
        def load(self, channel, conversation):
            raise OSError("disk gone")

        def save(self, state):
            raise OSError("disk gone")

    service = AssistantService(assistant, conversations=Broken())
    assert service.handle("web", "c1", Message("who is cai bin")).text.startswith("Cai Bin")


def test_keys_are_checked_and_long_ones_hashed(service):
    with pytest.raises(ValueError):
        service.handle("web", "", Message("hi"))
    long_key = "k" * 500
    talk(service, "/language fr", conversation=long_key)
    assert service.language_of("web", long_key) == "fr"


# -- with a database: SQLite, and PostgreSQL when TEST_DATABASE_URL is set ------------------
def open_service(url: str, assistant, clock) -> AssistantService:
    return AssistantService(assistant, Storage.open(url, clock=clock), clock=clock,
                            admins={"web": {"admin-1"}})


def test_two_instances_share_a_conversation(database_url, knowledge, clock):
    from bot.core.engine import Assistant
    # two instances, each with its own engine and its own Assistant, on one database
    one = open_service(database_url, Assistant(knowledge), clock)
    two = open_service(database_url, Assistant(knowledge), clock)
    try:
        one.handle("telegram", "42", Message("/language fr"))
        one.handle("telegram", "42", Message("who is cai bin"))
        clock.advance(minutes=1)
        follow = two.handle("telegram", "42", Message("et lui ?"))
        assert follow.lang == "fr" and follow.text.startswith("Cai Bin")
        assert "Sujet de l'intervention" in follow.text
        picked = two.handle("telegram", "42", Message("1"))   # a choice shown by instance one
        assert picked.intent == "doctor" and picked.lang == "fr"
        assert one.language_of("telegram", "42") == "fr"
        assert one.language_of("telegram", "43") is None
    finally:
        one.close()
        two.close()


TURN_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.knowledge.loader import load_knowledge
from bot.service import AssistantService
from bot.storage import Storage
service = AssistantService(Assistant(load_knowledge(Path("knowledge"))), Storage.open(sys.argv[1]))
for text in sys.argv[2:]:
    print(service.handle("telegram", "42", Message(text)).lang)
service.close()
"""


def test_two_processes_share_a_conversation(database_url, assistant):
    root = Path(__file__).resolve().parent.parent
    first = subprocess.run([sys.executable, "-c", TURN_IN_ANOTHER_PROCESS, database_url,
                            "/language fr", "who is cai bin"], cwd=root, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    service = AssistantService(assistant, Storage.open(database_url))
    try:
        follow = service.handle("telegram", "42", Message("et lui ?"))
        assert follow.lang == "fr" and follow.text.startswith("Cai Bin")
        today = utc_now().date()   # both processes' counts, even across midnight
        assert service.storage.questions.stats(today - timedelta(days=1), today).total == 2
    finally:
        service.close()


def test_a_restart_keeps_the_language_and_forget_deletes_it(database_url, assistant, clock):
    first = open_service(database_url, assistant, clock)
    first.handle("wechat", "openid-1", Message("中文"))
    first.subscribe("wechat", "openid-1")
    assert first.storage.subscriptions.get("wechat", "openid-1").language == "zh"
    first.close()
    clock.advance(days=3)
    second = open_service(database_url, assistant, clock)
    try:
        assert second.language_of("wechat", "openid-1") == "zh"
        assert second.handle("wechat", "openid-1", Message("who is cai bin")).lang == "zh"
        done = second.handle("wechat", "openid-1", Message("/forget"))
        assert done.intent == "command" and done.lang == "zh"
        assert second.language_of("wechat", "openid-1") is None
        assert second.storage.subscriptions.get("wechat", "openid-1") is None
    finally:
        second.close()


def test_questions_are_logged_for_the_admin_reports(database_url, assistant, clock):
    service = open_service(database_url, assistant, clock)
    try:
        talk(service, "who is cai bin", "what is the capital of France")
        stats = service.handle("web", "c1", Message("/stats 1", user_id="admin-1")).text
        assert stats.startswith("Last 1 day(s): 2 answer(s).") and "fallback 1" in stats
        unanswered = service.handle("web", "c1", Message("/unanswered", user_id="admin-1")).text
        assert "capital of france" in unanswered.lower()
    finally:
        service.close()


def test_purge_drops_silent_conversations_but_keeps_language_choices(database_url, assistant,
                                                                     clock):
    service = open_service(database_url, assistant, clock)
    try:
        talk(service, "who is cai bin", conversation="silent")
        talk(service, "/language ar", conversation="chooser")
        clock.advance(days=2)
        talk(service, "hello", conversation="recent")
        assert service.purge() >= 1
        assert service.conversations.load("web", "silent") is None
        assert service.language_of("web", "chooser") == "ar"
        assert service.conversations.load("web", "recent") is not None
    finally:
        service.close()


def test_a_message_writes_its_conversation_and_count_in_one_transaction(database_url,
                                                                         assistant, clock):
    service = open_service(database_url, assistant, clock)
    storage = service.storage
    try:
        talk(service, "who is cai bin")
        assert storage.conversations.load("web", "c1").ids[0] == "person:cai-bin"
        assert storage.questions.stats(T0.date(), T0.date()).total == 1
        with pytest.raises(RuntimeError), storage.turn() as conn:
            storage.questions.record(question="where is the hall", intent="fallback",
                                     lang="en", answered=False, closest=None, conn=conn)
            raise RuntimeError("the conversation's save failed")
        assert storage.questions.stats(T0.date(), T0.date()).total == 1
        assert storage.questions.unanswered() == []
    finally:
        service.close()
