"""The WeChat channel over real HTTP: uvicorn serves the app on a loopback port, httpx
talks to it as WeChat would (signed queries, XML bodies, AES safe mode)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto

from bot.channels.wechat import format
from bot.channels.wechat.app import MAX_BODY, PATH, Credentials, create_app, credentials
from bot.channels.wechat.cache import RecentCache
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.settings import ConfigError, Settings

TOKEN = "summitToken2023"
APP_ID = "wx1234567890abcdef"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
PLAIN = Credentials(TOKEN)
SAFE = Credentials(TOKEN, APP_ID, AES_KEY)
USER = "oUser_openid_123"
ACCOUNT = "gh_summit_account"
SCRIPT = Path(sys.executable).parent / "forumbot"


class Counting:
    """An Assistant wrapper counting the calls that reach the core."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.calls = 0

    def reply(self, message: Message):
        self.calls += 1
        return self.assistant.reply(message)

    def choose(self, choice_id: str, lang: str = "en"):
        self.calls += 1
        return self.assistant.choose(choice_id, lang)

    def __getattr__(self, name: str):  # k, knows: what the service reads besides answers
        return getattr(self.assistant, name)


@contextlib.asynccontextmanager
async def serving(app):
    """Run ``app`` with uvicorn on a free 127.0.0.1 port; yield an httpx client for it."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None,
                                           access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def counting(assistant) -> Counting:
    return Counting(assistant)


@pytest.fixture
async def client(counting):
    async with serving(create_app(counting, PLAIN)) as c:
        yield c


def signed(token: str = TOKEN, **extra) -> dict[str, str]:
    """A query as WeChat signs it: signature over the sorted token, timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), base64.b16encode(os.urandom(5)).decode()
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce,
            "openid": USER, **extra}


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(msg_type: str = "text", msg_id: str | None = "1001", sender: str = USER,
                **fields) -> str:
    parts = [f"<ToUserName>{cdata(ACCOUNT)}</ToUserName>",
             f"<FromUserName>{cdata(sender)}</FromUserName>",
             f"<CreateTime>{int(time.time())}</CreateTime>",
             f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    parts += [f"<{name}>{cdata(value)}</{name}>" for name, value in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_xml(content: str, msg_id: str = "1001", **kw) -> str:
    return message_xml("text", msg_id, Content=content, **kw)


def reply_fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    return {child.tag: child.text or "" for child in root}


async def post(client, body: str | bytes, **query) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return await client.post(PATH, params=query or signed(), content=data)


# -- handshake ----------------------------------------------------------------------------
async def test_handshake_returns_echostr_for_a_good_signature(client):
    response = await client.get(PATH, params=signed(echostr="4567890123"))
    assert response.status_code == 200
    assert response.text == "4567890123"
    assert response.headers["content-type"].startswith("text/plain")


async def test_answers_are_never_sniffed_and_no_redirect_echoes_the_host(client):
    handshake = await client.get(PATH, params=signed(echostr="<b>hi</b>"))
    assert handshake.headers["x-content-type-options"] == "nosniff"
    slash = await client.post(PATH + "/", headers={"host": "evil.example"})
    assert slash.status_code == 404 and "location" not in slash.headers


async def test_handshake_with_a_bad_or_missing_signature_is_403(client):
    query = signed(echostr="4567890123")
    query["signature"] = "0" * 40
    assert (await client.get(PATH, params=query)).status_code == 403
    assert (await client.get(PATH, params=signed("otherToken", echostr="1"))).status_code == 403
    assert (await client.get(PATH, params={"echostr": "1"})).status_code == 403


# -- text messages ------------------------------------------------------------------------
async def test_text_message_is_answered_by_the_core_with_a_passive_text_reply(client):
    response = await post(client, text_xml("Who spoke about preeclampsia?"))
    reply = reply_fields(response)
    assert reply["MsgType"] == "text"
    assert "Brini Jihane" in reply["Content"]
    assert reply["ToUserName"] == USER and reply["FromUserName"] == ACCOUNT
    assert int(reply["CreateTime"]) >= int(time.time()) - 5
    assert "<b>" not in reply["Content"] and "**" not in reply["Content"]


async def test_urgent_message_gets_the_emergency_text_first(client):
    reply = reply_fields(await post(client, text_xml("my wife is bleeding heavily")))
    assert reply["Content"].startswith("This may be an emergency. Call now")


async def test_subscribe_event_gets_the_greeting(client, counting):
    body = message_xml("event", None, Event="subscribe", EventKey="")
    reply = reply_fields(await post(client, body))
    assert "Hello! I am Summit Assistant" in reply["Content"]
    assert reply["ToUserName"] == USER
    qr = message_xml("event", None, sender="oOther", Event="subscribe", EventKey="qrscene_42")
    assert "Hello! I am Summit Assistant" in reply_fields(await post(client, qr))["Content"]


@pytest.mark.parametrize("body", [
    message_xml("image", "2001", PicUrl="http://example.com/a.jpg", MediaId="m1"),
    message_xml("voice", "2002", MediaId="m2", Format="amr"),
    message_xml("location", "2003", Location_X="23.1", Location_Y="113.3", Label="x"),
    message_xml("link", "2004", Title="t", Description="d", Url="http://example.com"),
    message_xml("video", "2005", MediaId="m3", ThumbMediaId="m4"),
    message_xml("event", None, Event="scancode_push", EventKey="menu_1"),
])
async def test_other_message_kinds_get_the_text_only_reply(client, counting, body):
    reply = reply_fields(await post(client, body))
    assert reply["Content"] == format.TEXT_ONLY
    assert "I can only read text messages" in reply["Content"]
    assert reply["ToUserName"] == USER
    assert counting.calls == 0


async def test_unsubscribe_gets_no_reply(client):
    response = await post(client, message_xml("event", None, Event="unsubscribe"))
    assert response.status_code == 200 and response.text == "success"


async def test_a_number_picks_one_of_the_choices_last_shown(client):
    first = reply_fields(await post(client, text_xml("what is the capital of France", "3001")))
    assert "\n1. Programme" in first["Content"] and "3. Find a doctor" in first["Content"]
    assert format.pick_hint() in first["Content"]
    picked = reply_fields(await post(client, text_xml("3", "3002")))
    assert "Find a Doctor" in picked["Content"] and "Li Jinbao" in picked["Content"]
    # another follower has no choices to pick from: the core reads "3" as text
    other = reply_fields(await post(client, text_xml("3", "3003", sender="oSomeoneElse")))
    assert "Li Jinbao" not in other["Content"]


async def test_a_retried_msgid_gets_the_same_reply_without_a_second_core_call(client,
                                                                              counting):
    body = text_xml("Who is Cai Bin?", msg_id="6000000000000000001")
    first = await post(client, body)
    await asyncio.sleep(1.1)  # a retry comes later: CreateTime in a new reply would differ
    retries = [await post(client, body) for _ in range(3)]
    assert first.status_code == 200 and "Cai Bin" in reply_fields(first)["Content"]
    assert all(r.content == first.content for r in retries)
    assert counting.calls == 1
    other = await post(client, text_xml("Who is Cai Bin?", msg_id="6000000000000000002"))
    assert other.status_code == 200 and counting.calls == 2


async def test_a_retried_event_without_msgid_is_answered_once(client, counting):
    body = message_xml("event", None, Event="subscribe")
    first, second = await post(client, body), await post(client, body)
    assert first.content == second.content and counting.calls == 1


async def test_sender_names_cannot_break_out_of_the_reply_cdata(client, counting):
    # a FromUserName is an OpenID: anything else is refused before a reply is written
    sender = "o]]><MsgType>evil</MsgType><x><![CDATA[y"
    response = await post(client, text_xml("hello", sender=sender))
    assert response.status_code == 400 and counting.calls == 0


# -- refusals -----------------------------------------------------------------------------
async def test_bad_signature_on_post_is_403_and_the_body_is_not_logged(client, counting,
                                                                        caplog):
    secret_words = "my private question about preeclampsia 7391"
    query = signed()
    query["signature"] = hashlib.sha1(b"forged").hexdigest()
    with caplog.at_level(logging.DEBUG):
        response = await post(client, text_xml(secret_words), **query)
        unsigned = await client.post(PATH, content=text_xml(secret_words).encode())
    assert response.status_code == 403 and unsigned.status_code == 403
    assert counting.calls == 0
    server_logs = "\n".join(r.getMessage() for r in caplog.records
                            if not r.name.startswith(("httpx", "httpcore")))  # the client's
    assert "bad signature" in server_logs
    assert secret_words not in server_logs and USER not in server_logs


@pytest.mark.parametrize("body", [
    b"this is not xml",
    b"<xml><ToUserName>unclosed",
    b"",
    b"<notxml><MsgType>text</MsgType></notxml>",
    message_xml("text", "1", Content="a").replace("<MsgType><![CDATA[text]]></MsgType>",
                                                  "").encode(),
    text_xml("a").replace("<Content>", "<Content>x</Content><Content>").encode(),
    "<xml><Content>caf\u00e9</Content></xml>".encode("latin-1"),
    b"<xml><MsgType>text</MsgType><FromUserName>a</FromUserName>"
    b"<ToUserName>b</ToUserName><MsgId>not-a-number</MsgId></xml>",
])
async def test_malformed_xml_is_400_never_500(client, counting, body):
    response = await post(client, body)
    assert response.status_code in (400,), response.text
    assert counting.calls == 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""
BARE_DTD = """<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd">
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, BARE_DTD],
                         ids=["billion-laughs", "xxe", "external-dtd"])
async def test_hostile_xml_is_400_and_nothing_is_expanded(client, counting, body):
    response = await post(client, body)
    assert response.status_code == 400
    assert "root:" not in response.text and "lollol" not in response.text
    assert counting.calls == 0


async def test_oversized_body_is_413(client, counting):
    big = text_xml("x" * (MAX_BODY + 1))
    assert (await post(client, big)).status_code == 413

    async def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"<!-- " + b"x" * 1014 + b" -->"
    response = await client.post(PATH, params=signed(), content=chunks())
    assert response.status_code == 413
    assert counting.calls == 0


async def test_other_methods_and_paths_are_refused(client):
    assert (await client.put(PATH, params=signed())).status_code == 405
    assert (await client.post("/", params=signed(), content=b"<xml/>")).status_code == 404


# -- long answers -------------------------------------------------------------------------
async def test_long_answer_is_cut_to_2048_utf8_bytes_at_a_sentence(knowledge):
    summary = "".join(f"第{i}句：子痫前期的临床管理与病例分析。" for i in range(300))
    talks = [t.model_copy(update={"summary": summary}) for t in knowledge.talks]
    long_assistant = Assistant(knowledge.model_copy(update={"talks": talks}))
    question = "Who spoke about preeclampsia?"
    assert format.size(long_assistant.reply(Message(question)).text) > 2 * format.MAX_BYTES
    async with serving(create_app(long_assistant, PLAIN)) as c:
        for msg_id, text in enumerate([question, "/sessions", "list all speakers"], 1):
            content = reply_fields(await post(c, text_xml(text, str(msg_id))))["Content"]
            assert format.size(content) <= format.MAX_BYTES
            assert content.strip()
        content = reply_fields(await post(c, text_xml(question, "9")))["Content"]
    assert content.startswith("At the forum")
    assert content.endswith("\n" + format.shortened())
    assert content[:-len(format.shortened()) - 1].endswith("。")
    assert format.size(content) > format.MAX_BYTES - 100  # cut near the limit, not early


def test_shorten_keeps_short_text_and_cuts_at_a_line():
    assert format.shorten("short", 100) == "short"
    text = "a first line long enough to keep\n" + "a second line that is long " * 10
    assert format.shorten(text, 120) == "a first line long enough to keep\n" + format.shortened()
    sentences = "One sentence here. Another sentence there! " * 5
    assert format.shorten(sentences, 100) == ("One sentence here. Another sentence there!\n"
                                              + format.shortened())
    assert format.shorten("x" * 300, 100) == "x" * (100 - format.size(format.shortened()) - 1) \
        + "\n" + format.shortened()


def test_choices_are_numbered_lines_while_they_fit(ask):
    reply = ask("what is the capital of France")
    content, shown = format.content(reply)
    assert shown == reply.choices
    assert content.endswith(format.pick_hint())
    tight = format.size(reply.text) + 25
    content, shown = format.content(reply, tight)
    assert len(shown) < len(reply.choices) and format.size(content) <= tight


@hsettings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=60, max_value=3000))
def test_shorten_never_exceeds_the_byte_limit(text, limit):
    out = format.shorten(text, limit)
    assert format.size(out) <= limit
    assert out == text or out.endswith(format.shortened())


# -- AES safe mode ------------------------------------------------------------------------
def encrypted_request(plain_xml: str) -> tuple[bytes, dict[str, str]]:
    """Encrypt a message as WeChat does in safe mode: the body carries Encrypt, the query
    adds encrypt_type=aes and msg_signature."""
    query = signed(encrypt_type="aes")
    sealed = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(
        plain_xml, query["nonce"], query["timestamp"])
    fields = {c.tag: c.text for c in ElementTree.fromstring(sealed)}
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>")
    return body.encode(), {**query, "msg_signature": fields["MsgSignature"]}


def decrypt_reply(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    sealed = {c.tag: c.text for c in ElementTree.fromstring(response.content)}
    assert "Content" not in sealed
    plain = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        response.text, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"])
    return {c.tag: c.text or "" for c in ElementTree.fromstring(plain)}


async def test_safe_mode_round_trip(assistant):
    async with serving(create_app(assistant, SAFE)) as c:
        body, query = encrypted_request(text_xml("Who spoke about preeclampsia?"))
        assert b"preeclampsia" not in body
        response = await c.post(PATH, params=query, content=body)
        assert b"Brini" not in response.content
        reply = decrypt_reply(response)
        assert "Brini Jihane" in reply["Content"]
        assert reply["ToUserName"] == USER and reply["FromUserName"] == ACCOUNT

        body, query = encrypted_request(message_xml("event", None, Event="subscribe"))
        reply = decrypt_reply(await c.post(PATH, params=query, content=body))
        assert "Hello! I am Summit Assistant" in reply["Content"]


async def test_safe_mode_refuses_bad_msg_signature_plain_bodies_and_foreign_appids(
        assistant):
    async with serving(create_app(assistant, SAFE)) as c:
        body, query = encrypted_request(text_xml("hello"))
        forged = {**query, "msg_signature": "0" * 40}
        assert (await c.post(PATH, params=forged, content=body)).status_code == 403
        plain = await c.post(PATH, params=signed(), content=text_xml("hello").encode())
        assert plain.status_code == 400  # safe mode: a body without Encrypt is refused
        garbage = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
        query2 = dict(query)
        enc = ElementTree.fromstring(garbage).findtext("Encrypt")
        query2["msg_signature"] = hashlib.sha1("".join(sorted(
            [TOKEN, query["timestamp"], query["nonce"], enc])).encode()).hexdigest()
        assert (await c.post(PATH, params=query2, content=garbage)).status_code == 400
    other = Credentials(TOKEN, "wxanotherappid0000", AES_KEY)
    async with serving(create_app(assistant, other)) as c:
        body, query = encrypted_request(text_xml("hello"))
        assert (await c.post(PATH, params=query, content=body)).status_code == 403


# -- settings, cache, CLI -----------------------------------------------------------------
def test_credentials_from_settings():
    assert credentials(Settings(_env_file=None, wechat_token=TOKEN)) == PLAIN
    safe = credentials(Settings(_env_file=None, wechat_token=TOKEN, wechat_app_id=APP_ID,
                                wechat_encoding_aes_key=AES_KEY))
    assert safe.safe_mode and safe == SAFE
    assert TOKEN not in repr(safe) and AES_KEY not in repr(safe)
    for kwargs, name in [({}, "WECHAT_TOKEN"), ({"wechat_token": "a b"}, "WECHAT_TOKEN"),
                         ({"wechat_token": TOKEN, "wechat_encoding_aes_key": "short",
                           "wechat_app_id": APP_ID}, "WECHAT_ENCODING_AES_KEY"),
                         ({"wechat_token": TOKEN, "wechat_encoding_aes_key": AES_KEY},
                          "WECHAT_APP_ID")]:
        with pytest.raises(ConfigError, match=name) as info:
            credentials(Settings(_env_file=None, **kwargs))
        assert "\n" not in str(info.value) and AES_KEY not in str(info.value)


def test_recent_cache_is_bounded_and_expires():
    now = [0.0]
    cache = RecentCache(3, 10.0, clock=lambda: now[0])
    for i in range(5):
        cache.put(str(i), i)
    assert len(cache) == 3 and cache.get("0") is None and cache.get("4") == 4
    now[0] = 10.0
    assert cache.get("4") is None
    cache.put("new", 1)
    assert len(cache) == 1


@pytest.fixture(scope="module")
def forumbot() -> str:
    path = str(SCRIPT) if SCRIPT.exists() else shutil.which("forumbot")
    assert path, "the forumbot console script is not installed: run pip install -e '.[test]'"
    return path


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WECHAT_", "PORT", "WEBHOOK_", "LOG_LEVEL"))}
    return {**env, **extra}


def test_cli_without_wechat_token_exits_2_with_one_line(forumbot, tmp_path):
    proc = subprocess.run([forumbot, "wechat"], capture_output=True, text=True, timeout=60,
                          env=clean_env(), cwd=tmp_path)  # cwd: no .env file
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "WECHAT_TOKEN" in lines[0], proc.stderr


def test_cli_with_a_busy_port_exits_2_with_one_line(forumbot, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run([forumbot, "wechat"], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path,
                              env=clean_env(WECHAT_TOKEN=TOKEN, PORT=str(port),
                                            WEBHOOK_LISTEN="127.0.0.1"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip()] and "cannot listen on 127.0.0.1" in proc.stderr
    assert TOKEN not in proc.stderr


def test_cli_serves_the_webhook_until_sigterm(forumbot, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    proc = subprocess.Popen([forumbot, "wechat"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=clean_env(WECHAT_TOKEN=TOKEN, PORT=str(port),
                                          WEBHOOK_LISTEN="127.0.0.1", LOG_LEVEL="INFO"))
    try:
        url = f"http://127.0.0.1:{port}{PATH}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(url, params=signed(), timeout=5,
                                      content=text_xml("Who is Cai Bin?").encode())
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        assert "Cai Bin" in reply_fields(response)["Content"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "WeChat webhook on 127.0.0.1" in err
    assert TOKEN not in err and USER not in err and "Cai Bin" not in err


# -- conversations through the service ----------------------------------------------------
TURNS = {  # three turns per language: a name, then follow-ups (or a new name)
    "en": [("who is cai bin", "Cai Bin"), ("what did he talk about?", "Talk subject"),
           ("what about Li Jinbao?", "Li Jinbao")],
    "fr": [("qui est Brini Jihane", "Brini Jihane"), ("et elle ?", "Sujet de l'intervention"),
           ("1", "Brini Jihane")],
    "zh": [("Cai Bin 是谁", "Cai Bin"), ("他讲了什么？", "报告主题"), ("他呢", "Cai Bin")],
    "ar": [("شكون هي Brini Jihane", "Brini Jihane"), ("و هي، على شنو هضرات؟", "موضوع المحاضرة"),
           ("و هو؟", "Brini Jihane")],
}


async def test_three_turn_conversations_with_follow_ups_in_four_languages(client):
    msg_id = 7000
    for lang, turns in TURNS.items():
        for text, expected in turns:
            msg_id += 1
            reply = reply_fields(await post(client, text_xml(text, str(msg_id),
                                                             sender=f"o_{lang}")))
            assert expected in reply["Content"], (lang, text, reply["Content"][:200])


async def test_language_preference_by_command_or_by_name(client):
    confirm = reply_fields(await post(client, text_xml("/language fr", "7101")))
    assert confirm["Content"] == "Je répondrai en français."
    answer = reply_fields(await post(client, text_xml("who is cai bin", "7102")))
    assert "Sujet de l'intervention" in answer["Content"]
    confirm = reply_fields(await post(client, text_xml("中文", "7103")))
    assert confirm["Content"] == "我会用中文回答。"
    answer = reply_fields(await post(client, text_xml("who is cai bin", "7104")))
    assert "报告主题" in answer["Content"]


async def test_admin_reports_and_the_question_log_with_a_database(assistant, tmp_path):
    from bot.service import AssistantService
    from bot.storage import Storage
    service = AssistantService(assistant, Storage.open(f"sqlite:///{tmp_path}/w.sqlite3"),
                               admins={"wechat": {"oAdmin"}})
    try:
        async with serving(create_app(service, PLAIN)) as c:
            await post(c, text_xml("what is the capital of France", "7201"))
            stats = reply_fields(await post(c, text_xml("/stats", "7202", sender="oAdmin")))
            assert stats["Content"].startswith("Last 7 day(s): 1 answer(s).")
            todo = reply_fields(await post(c, text_xml("/unanswered", "7203", sender="oAdmin")))
            assert "capital of france" in todo["Content"].lower()
            stranger = reply_fields(await post(c, text_xml("/stats", "7204")))
            assert "/stats" in stranger["Content"] and "answer(s)" not in stranger["Content"]
            sub = reply_fields(await post(c, text_xml("/subscribe", "7205")))
            assert sub["Content"].startswith("You are subscribed")
            assert service.storage.subscriptions.get("wechat", USER).status == "active"
    finally:
        service.close()


async def test_a_retry_during_the_first_answer_waits_for_it(assistant):
    class Slow(Counting):
        def reply(self, message: Message):
            time.sleep(0.5)  # runs in a worker thread: the retry arrives meanwhile
            return super().reply(message)

    slow = Slow(assistant)
    async with serving(create_app(slow, PLAIN)) as c:
        body = text_xml("Who is Cai Bin?", msg_id="6000000000000000099")
        first, retry = await asyncio.gather(post(c, body), post(c, body))
    assert first.content == retry.content and "Cai Bin" in reply_fields(first)["Content"]
    assert slow.calls == 1


async def test_a_field_with_child_elements_is_400(client):
    body = text_xml("x").replace("<Content><![CDATA[x]]></Content>",
                                 "<Content><b>who</b><i>is</i></Content>")
    response = await post(client, body)
    assert response.status_code == 400
