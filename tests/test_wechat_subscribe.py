"""WeChat followers as subscribers, over HTTP as WeChat calls the webhook: following, the
menu button and keywords subscribe; unfollowing and keywords unsubscribe; every message
starts the 48-hour window; the ``forumbot wechat`` process's worker pushes a due
announcement through the (fake) WeChat API."""
from __future__ import annotations

import asyncio

import pytest
from fake_wechat_api import APP_ID, APP_SECRET, FakeWeChatApi
from test_wechat import PLAIN, message_xml, post, reply_fields, serving, text_xml

from bot.broadcast import create_adhoc
from bot.channels.wechat.announce import WeChatBroadcaster, subscription_command
from bot.channels.wechat.app import create_app
from bot.service import AssistantService
from bot.settings import Settings
from bot.storage.store import Storage


@pytest.fixture
def storage(tmp_path):
    store = Storage.open(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    yield store
    store.close()


@pytest.fixture
def service(assistant, storage) -> AssistantService:
    return AssistantService(assistant, storage)


def event_xml(event: str, sender: str, key: str | None = None) -> str:
    fields = {"Event": event} | ({"EventKey": key} if key else {})
    return message_xml("event", msg_id=None, sender=sender, **fields)


@pytest.mark.parametrize("text, command", [
    ("订阅", "/subscribe"), ("S'abonner !", "/subscribe"), ("اشتراك", "/subscribe"),
    ("取消订阅", "/unsubscribe"), ("se désabonner", "/unsubscribe"),
    ("إلغاء الاشتراك", "/unsubscribe"), ("who spoke about subscriptions?", None)])
def test_subscription_keywords_in_four_languages(text, command, knowledge):
    assert subscription_command(text, knowledge.vocabulary) == command


def test_subscription_keywords_come_from_the_knowledge(knowledge):
    vocabulary = knowledge.vocabulary.model_copy(
        update={"subscription": {"subscribe": ["abonne-moi"], "unsubscribe": []}})
    assert subscription_command("Abonne-moi !", vocabulary) == "/subscribe"
    assert subscription_command("订阅", vocabulary) is None


async def test_follow_keywords_menu_and_unfollow(service, storage):
    subs = storage.subscriptions
    async with serving(create_app(service, PLAIN)) as client:
        greeting = reply_fields(await post(client, event_xml("subscribe", "o-follower")))
        assert greeting["Content"]
        assert subs.get("wechat", "o-follower").status == "active"
        assert subs.get("wechat", "o-follower").last_seen_at is not None

        answer = reply_fields(await post(client, text_xml("订阅", msg_id="2001",
                                                          sender="o-keyword")))
        assert "订阅" in answer["Content"]                        # confirmed in Chinese
        assert subs.get("wechat", "o-keyword").status == "active"
        reply_fields(await post(client, text_xml("取消订阅", msg_id="2002",
                                                 sender="o-keyword")))
        assert subs.get("wechat", "o-keyword").status == "unsubscribed"

        reply_fields(await post(client, event_xml("CLICK", "o-menu", key="SUBSCRIBE")))
        assert subs.get("wechat", "o-menu").status == "active"

        unfollowed = await post(client, event_xml("unsubscribe", "o-follower"))
        assert unfollowed.text == "success"
        assert subs.get("wechat", "o-follower").status == "unsubscribed"


async def test_a_subscribers_message_moves_the_window(service, storage):
    storage.subscriptions.subscribe("wechat", "o-reader")
    assert storage.subscriptions.get("wechat", "o-reader").last_seen_at is None
    async with serving(create_app(service, PLAIN)) as client:
        reply_fields(await post(client, text_xml("who is cai bin", msg_id="3001",
                                                 sender="o-reader")))
    assert storage.subscriptions.get("wechat", "o-reader").last_seen_at is not None


async def test_the_wechat_process_pushes_a_due_announcement(service, storage):
    api = FakeWeChatApi()
    await api.start()
    try:
        settings = Settings(wechat_token="summitToken2023", wechat_app_id=APP_ID,
                            wechat_app_secret=APP_SECRET, wechat_api_base_url=api.base_url,
                            wechat_template_id="tmpl-news", broadcast_rate=100)
        assert WeChatBroadcaster.configured(settings)
        storage.subscriptions.subscribe("wechat", "o-recent")
        storage.subscriptions.seen("wechat", "o-recent")
        storage.subscriptions.subscribe("wechat", "o-never-wrote")
        create_adhoc(storage.engine, "The forum's slides are online.", "admin 1")
        app = create_app(service, PLAIN, broadcaster=WeChatBroadcaster(storage, settings))
        async with serving(app):
            for _ in range(200):
                if len(api.custom) + len(api.templates) >= 2:
                    break
                await asyncio.sleep(0.05)
        assert api.custom == [("o-recent", "The forum's slides are online.")]
        assert api.templates == [("o-never-wrote", "tmpl-news",
                                  "The forum's slides are online.")]
        assert api.fetches == 1
    finally:
        await api.stop()
