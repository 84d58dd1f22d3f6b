"""WeChat as followers really use it, over HTTP: voice messages with speech recognition,
QR-code scans and menu events, and the built-in smileys that arrive as "/" codes."""
from __future__ import annotations

import pytest
from test_wechat import PLAIN, message_xml, post, reply_fields, serving, text_xml

from bot.channels.wechat import format
from bot.channels.wechat.app import create_app
from bot.channels.wechat.emoticons import codes, strip_emoticons


@pytest.fixture
async def client(assistant):
    async with serving(create_app(assistant, PLAIN)) as c:
        yield c


def voice_xml(recognition: str | None, msg_id: str = "5001") -> str:
    fields = {"MediaId": "media_1", "Format": "amr"}
    if recognition is not None:
        fields["Recognition"] = recognition
    return message_xml("voice", msg_id, **fields)


# -- 6. voice messages with speech recognition -------------------------------------------
async def test_a_recognised_voice_message_is_answered_like_a_text(client):
    content = reply_fields(await post(client, voice_xml("谁讲了产后出血？")))["Content"]
    assert "Cai Bin" in content
    assert content.startswith("根据您的语音消息，我理解为：“谁讲了产后出血？”")


async def test_a_recognised_emergency_keeps_the_emergency_guidance_first(client):
    content = reply_fields(await post(client, voice_xml("my wife is bleeding heavily")))["Content"]
    assert content.startswith("This may be an emergency. Call now")
    assert 'From your voice message I understood: "my wife is bleeding heavily"' in content


async def test_a_long_transcript_stays_within_the_byte_limit(client):
    content = reply_fields(await post(client, voice_xml("讲座 " * 400 + "产后出血")))["Content"]
    assert format.size(content) <= format.MAX_BYTES


@pytest.mark.parametrize("recognition", [None, "", "   "])
async def test_a_voice_message_without_a_transcript_gets_the_text_only_note(client,
                                                                            recognition):
    content = reply_fields(await post(client, voice_xml(recognition)))["Content"]
    assert content == format.TEXT_ONLY


# -- 7. QR-code scans and menu events ----------------------------------------------------
async def test_a_follower_scanning_a_qr_code_is_greeted(client):
    body = message_xml("event", None, Event="SCAN", EventKey="poster_42", Ticket="t0k3n")
    assert "Hello! I am Summit Assistant" in reply_fields(await post(client, body))["Content"]


@pytest.mark.parametrize("key,needle", [
    ("sessions", "Cai Bin"), ("SPEAKERS", "Brini Jihane"), ("doctors", "Refki Ilham"),
    ("Emergency", "141"), ("menu_unknown_7", "/sessions"),
])
async def test_menu_clicks_open_their_section(client, key, needle):
    body = message_xml("event", None, sender=f"oClick{key}", Event="CLICK", EventKey=key)
    content = reply_fields(await post(client, body))["Content"]
    assert needle in content and content != format.TEXT_ONLY


async def test_a_menu_click_answers_in_the_followers_language(client):
    await post(client, text_xml("Je cherche une sage-femme", "6001", sender="oFrench"))
    body = message_xml("event", None, sender="oFrench", Event="CLICK", EventKey="sessions")
    assert "dans l'ordre du programme" in reply_fields(await post(client, body))["Content"]


@pytest.mark.parametrize("event,fields", [
    ("VIEW", {"EventKey": "https://www.example.org/forum"}),
    ("LOCATION", {"Latitude": "33.0", "Longitude": "-7.6", "Precision": "65.0"}),
    ("view_miniprogram", {"EventKey": "pages/index"}),
])
async def test_view_and_location_events_get_an_empty_success(client, event, fields):
    response = await post(client, message_xml("event", None, Event=event, **fields))
    assert response.status_code == 200 and response.text == "success"


# -- 8. built-in smileys ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["/::)谁讲了产后出血？", "谁讲了产后出血？/:rose/:rose",
                                  "/:,@-D 谁讲了 /::-O 产后出血？", "[微笑]谁讲了产后出血？"])
async def test_smiley_codes_are_removed_before_reading(client, text):
    content = reply_fields(await post(client, text_xml(text, "7001")))["Content"]
    assert "Cai Bin" in content and "do not know the command" not in content
    assert "不认识命令" not in content


async def test_a_command_after_a_smiley_is_still_a_command(client):
    content = reply_fields(await post(client, text_xml("/::D /doctor midwife", "7002")))["Content"]
    assert "Refki Ilham" in content


def test_the_smiley_list_is_wechats_and_strips_every_code():
    table = codes()
    assert len(table) == 105 and table["/::)"] == "微笑" and table["/:rose"] == "玫瑰"
    for code in table:
        assert strip_emoticons(f"{code}hello{code}") == "hello", code
    assert strip_emoticons("/sessions") == "/sessions"
    assert strip_emoticons("http://example.org/:x") == "http://example.org/:x"
