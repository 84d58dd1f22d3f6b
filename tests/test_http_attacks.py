"""The HTTP channels (web chat, WeChat, Telegram webhook) as an outsider attacks them: raw
requests on a loopback socket (slow, malformed, odd methods, huge headers), each answered
with a 4xx and no effect, while real visitors keep getting answers."""
from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from fake_bot_api import free_tcp_port
from test_wechat import PLAIN, serving, text_xml
from test_wechat import post as wechat_post

from bot.channels import http, serve
from bot.channels.web.app import create_app as web_app
from bot.channels.web.history import MAX_CHARS
from bot.channels.wechat.app import create_app as wechat_app
from bot.service import AssistantService
from bot.storage import Storage


async def raw(port: int, head: list[str], parts: list[bytes] = (), *, pause: float = 0.0,
              timeout: float = 10.0) -> int | None:
    """Send the request line and headers ``head``, then each of ``parts`` with ``pause``
    seconds before each; return the status of the answer, or None when the server closed
    the connection without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        answer = asyncio.ensure_future(reader.readline())
        for part in parts:
            await asyncio.wait([answer], timeout=pause)
            if answer.done():
                break
            writer.write(part)
            await writer.drain()
        line = await asyncio.wait_for(answer, timeout)
    except (ConnectionError, TimeoutError):
        line = b""
    finally:
        writer.close()
    return int(line.split()[1]) if line.startswith(b"HTTP/") else None


def port_of(client) -> int:
    return int(str(client.base_url).rsplit(":", 1)[1])


@pytest.fixture
async def web(assistant):
    """The web chat served on a loopback port; yields an httpx client for it."""
    async with serving(web_app(AssistantService(assistant))) as client:
        yield client


async def ask_web(client, text: str = "who is cai bin") -> str:
    response = await client.post("/api/messages", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()["reply"]["text"]


# -- web chat -----------------------------------------------------------------------------
async def test_a_web_body_sent_too_slowly_gets_408(web, monkeypatch):
    monkeypatch.setattr(http, "BODY_TIMEOUT", 0.5)
    body = json.dumps({"text": "who is cai bin"}).encode()
    head = ["POST /api/messages HTTP/1.1", "Host: 127.0.0.1",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    pieces = [body[i:i + 2] for i in range(0, len(body), 2)]
    assert await raw(port_of(web), head, pieces, pause=0.2) == 408
    assert "Cai Bin" in await ask_web(web)


@pytest.mark.parametrize("depth", [100, 15_000])  # 15,000: 30 KB, under the cap
async def test_deeply_nested_json_to_the_web_chat_gets_400(web, depth):
    body = b'{"text": "hi", "x": ' + b"[" * depth + b"]" * depth + b"}"
    response = await web.post("/api/messages", content=body,
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert "Cai Bin" in await ask_web(web)


async def test_a_conversation_of_long_messages_keeps_a_bounded_transcript(web):
    # 40 entries of 2,000-character messages per conversation, in 5,000 conversations,
    # took 0.9 GiB of memory: the transcript keeps at most MAX_CHARS characters
    for n in range(10):
        await ask_web(web, f"{n} " + "谁讲了产后出血 " * 249)
    await ask_web(web, "who is cai bin")
    shown = (await web.get("/api/conversation")).json()["messages"]
    size = sum(len(e.get("text", "")) + len(e.get("reply", {}).get("text", "")) for e in shown)
    assert size <= MAX_CHARS
    assert shown[-2] == {"role": "user", "text": "who is cai bin"}


# -- every server -------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def production(app):
    """``app`` served as ``forumbot web|wechat|webhook`` serve it (serve.server_for) on a
    loopback port; yields the port."""
    port = free_tcp_port()
    server = serve.server_for(app)
    task = asyncio.create_task(server.serve(sockets=[serve.bind("127.0.0.1", port)]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def test_connections_that_never_finish_their_headers_are_closed(assistant, monkeypatch):
    # slowloris: without a time limit on headers, MAX_CONNECTIONS such connections got
    # every visitor 503 for as long as the attacker kept them open
    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 20)
    monkeypatch.setattr(serve, "HEADER_TIMEOUT", 1.0)
    message = json.dumps({"text": "who is cai bin"}).encode()
    visit = ["POST /api/messages HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: application/json", f"Content-Length: {len(message)}"]
    async with production(web_app(AssistantService(assistant))) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        for _, writer in idle:
            writer.write(b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await asyncio.sleep(0.2)
        assert await raw(port, visit, [message]) == 503  # all connections taken
        closed = await asyncio.gather(*(asyncio.wait_for(reader.read(), 5)
                                        for reader, _ in idle))
        assert closed == [b""] * 20  # each closed by the server after HEADER_TIMEOUT
        assert await raw(port, visit, [message]) == 200
        for _, writer in idle:
            writer.close()


# -- WeChat -------------------------------------------------------------------------------
@pytest.mark.parametrize("sender", ["o" * 65, "o" * 20000, "o\nx", "o<b>", "用户"])
async def test_a_sender_that_is_no_wechat_id_gets_400_not_500(assistant, tmp_path, sender):
    # a FromUserName over 64 characters reached the database (subscribers.chat_id) and
    # failed there with a 500 on /subscribe, /forget and every event
    storage = Storage.open(f"sqlite:///{tmp_path}/wechat.sqlite3")
    try:
        async with serving(wechat_app(AssistantService(assistant, storage), PLAIN)) as client:
            for text in ("/subscribe", "/forget", "who is cai bin"):
                response = await wechat_post(client, text_xml(text, sender=sender))
                assert response.status_code == 400, (text, response.text)
            answer = await wechat_post(client, text_xml("/subscribe", msg_id="2"))
    finally:
        storage.close()
    assert answer.status_code == 200 and storage.subscriptions.count_active("wechat") == 1


async def test_one_client_cannot_take_every_connection(assistant, monkeypatch):
    # 1000 connections from one address (each refused 403 in a moment, or idle) got every
    # other visitor 503: uvicorn counts all open connections against MAX_CONNECTIONS
    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 20)
    monkeypatch.setattr(serve, "MAX_PER_ADDRESS", 5)
    monkeypatch.setattr(serve, "UNLIMITED_ADDRESSES", frozenset())
    message = json.dumps({"text": "who is cai bin"}).encode()
    visit = (f"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(message)}\r\n\r\n").encode() + message
    async with production(web_app(AssistantService(assistant))) as port:
        attacker = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
        await asyncio.sleep(0.2)
        refused = [await asyncio.wait_for(reader.read(), 5) for reader, _ in attacker[5:]]
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=("127.0.0.2", 0))
        writer.write(visit)
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        for _, attack in attacker:
            attack.close()
    assert all(r.startswith(b"HTTP/1.1 503") for r in refused)
    assert status.startswith(b"HTTP/1.1 200")
