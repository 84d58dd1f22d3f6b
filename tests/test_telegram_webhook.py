"""The Telegram webhook checks before it reads: a request without the secret header is
refused before its body is read, bodies over 1 MiB get 413, and concurrent oversized POSTs
leave the process's memory flat (``forumbot webhook`` as a real process, on loopback)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi, free_tcp_port
from telegram_test import text_of

from bot.channels.serve import bind, server_for
from bot.channels.telegram.app import build_application
from bot.channels.telegram.webhook import MAX_BODY, SECRET_HEADER, create_app
from bot.settings import Settings

SECRET = "s3cret-Token_42"
PATH = "telegram"


async def post(port: int, body: bytes | None, *, secret: str | None = SECRET,
               declared: int | None = None, chunked: bool = False, total: int | None = None,
               content_type: str = "application/json", timeout: float = 10.0) -> int | None:
    """POST on a raw socket; ``total`` bytes of ``body`` repeated are sent (or until the
    server answers or closes). Returns the status, or None when the connection was reset
    before an answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = body or b""
    total = len(body) if total is None else total
    head = [f"POST /{PATH} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    if secret is not None:
        head.append(f"{SECRET_HEADER}: {secret}")
    head.append("Transfer-Encoding: chunked" if chunked else
                f"Content-Length: {declared if declared is not None else total}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.create_task(reader.readline())
    filler = body * (1 + 65536 // max(len(body), 1))  # for bodies made of one byte repeated
    sent = 0
    try:
        while sent < total and not answer.done():
            size = min(65536, total - sent)
            piece = body[sent:sent + size] if len(body) >= total else filler[:size]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await asyncio.wait_for(writer.drain(), timeout)
            sent += len(piece)
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
        line = await asyncio.wait_for(answer, timeout)
    except (ConnectionError, TimeoutError):
        line = b""
    finally:
        answer.cancel()
        writer.close()
    return int(line.split()[1]) if line.startswith(b"HTTP/") else None


@pytest.fixture
async def webhook(fake: FakeBotApi, assistant):
    """The bot's Application behind the webhook app, on a free loopback port."""
    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url,
                        database_url="", watch_knowledge=False)
    app = build_application(settings, assistant)
    await app.initialize()
    await app.start()
    port = free_tcp_port()
    server = server_for(create_app(app, PATH, SECRET))
    task = asyncio.create_task(server.serve(sockets=[bind("127.0.0.1", port)]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await task
    await app.stop()
    await app.shutdown()


def update_body(fake: FakeBotApi, text: str) -> bytes:
    update = fake.user_sends(text)
    fake.pending_updates.clear()  # delivered by the webhook, not by getUpdates
    return json.dumps(update).encode()


async def test_a_good_update_is_answered(fake, webhook):
    assert await post(webhook, update_body(fake, "who is fan xiaosheng")) == 200
    [reply] = await fake.wait_for_sent(1)
    assert "Captain" in text_of(reply)


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1],
                                    SECRET.upper()])
async def test_a_wrong_or_missing_secret_is_refused_without_reading(fake, webhook, secret):
    # the declared body is never sent: an answer proves the server did not wait for it
    assert await post(webhook, b"{}", secret=secret, declared=50_000_000, total=0) == 403
    assert await post(webhook, update_body(fake, "who is cai bin"), secret=secret) == 403
    await asyncio.sleep(0.2)
    assert fake.sent == []


async def test_bodies_over_one_mib_get_413(fake, webhook):
    assert await post(webhook, b"{}", declared=MAX_BODY + 1, total=0) == 413
    assert await post(webhook, b"x", chunked=True, total=MAX_BODY + 65536) == 413
    padded = json.loads(update_body(fake, "who is cai bin"))
    padded["padding"] = "x" * (MAX_BODY // 2)  # big but under the cap: still answered
    assert await post(webhook, json.dumps(padded).encode()) == 200
    await fake.wait_for_sent(1)


@pytest.mark.parametrize("body,content_type,status", [
    (b"not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"\xff\xfe{}", "application/json", 400),
    (b'{"update_id": NaN}', "application/json", 400),      # not JSON, though Python reads it
    (b'{"update_id": -Infinity}', "application/json", 400),
    (b'{"update_id": 1}', "text/plain", 415),
    # a JSON object PTB cannot decode (a message without chat and date): dropped, 200 so
    # that Telegram does not send it again
    (b'{"update_id": 5, "message": {"message_id": 1, "text": "hi"}}', "application/json", 200),
])
async def test_malformed_bodies(fake, webhook, body, content_type, status):
    assert await post(webhook, body, content_type=content_type) == status
    assert await post(webhook, update_body(fake, "who is cai bin")) == 200  # still serving
    await fake.wait_for_sent(1)


@pytest.mark.parametrize("depth", [100, 100_000])
async def test_deeply_nested_json_gets_400(fake, webhook, depth):
    # 100 levels parse, then fail the nesting limit; 100,000 make the parser give up
    # (RecursionError): both are the client's fault, never a 500
    body = b'{"update_id": 9, "x": ' + b"[" * depth + b"]" * depth + b"}"
    assert await post(webhook, body) == 400
    assert await post(webhook, update_body(fake, "who is cai bin")) == 200  # still serving
    await fake.wait_for_sent(1)


async def test_a_second_delivery_of_an_update_is_not_answered_again(fake, webhook):
    body = update_body(fake, "who is cai bin")
    assert [await post(webhook, body) for _ in range(3)] == [200, 200, 200]
    assert await post(webhook, update_body(fake, "who is fan xiaosheng")) == 200
    replies = await fake.wait_for_sent(2)
    await asyncio.sleep(0.3)  # a duplicate answered late would show up here
    assert len(fake.sent) == 2
    assert "Cai Bin" in text_of(replies[0]) and "Captain" in text_of(replies[1])


def memory_mib(pid: int, field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident since the last reset) of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_concurrent_oversized_posts_leave_memory_flat(fake, tmp_path):
    port = free_tcp_port()
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token,
           "TELEGRAM_API_BASE_URL": fake.base_url, "WEBHOOK_URL": f"http://127.0.0.1:{port}/"
           f"{PATH}", "WEBHOOK_SECRET": SECRET, "WEBHOOK_LISTEN": "127.0.0.1",
           "PORT": str(port), "DATABASE_URL": "", "WATCH_KNOWLEDGE": "false"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "forumbot"), "webhook"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        await fake.wait_for_call("setWebhook", timeout=60)
        body = update_body(fake, "who is cai bin")
        for _ in range(200):  # the server may start listening just after setWebhook
            with contextlib.suppress(ConnectionRefusedError):
                if await post(port, body) == 200:
                    break
            await asyncio.sleep(0.1)
        await fake.wait_for_sent(1, timeout=10)
        reset_peak(proc.pid)
        before = memory_mib(proc.pid, "VmRSS")
        started = time.monotonic()
        # 24 at once, 16 MiB each (384 MiB in all): without the secret, with it (the size
        # declared, or chunked with no size at all)
        attacks = ([post(port, b"A", secret=None, total=16 << 20)] * 8
                   + [post(port, b"B", total=16 << 20)] * 8
                   + [post(port, b"C", chunked=True, total=16 << 20)] * 8)
        statuses = await asyncio.gather(*attacks)
        elapsed = time.monotonic() - started
        peak = memory_mib(proc.pid, "VmHWM")
        print(f"\nresident {before:.0f} MiB, peak {peak:.0f} MiB during 24 oversized POSTs "
              f"({elapsed:.1f} s); statuses {sorted(statuses, key=str)}")
        assert statuses[:8] == [403] * 8 and statuses[8:16] == [413] * 8
        assert all(s in (413, None) for s in statuses[16:])  # answered, or cut mid-send
        assert peak - before < 16, f"resident memory rose from {before:.0f} to {peak:.0f} MiB"
        # and the bot still answers
        assert await post(port, update_body(fake, "who is fan xiaosheng")) == 200
        sent = await fake.wait_for_sent(2, timeout=10)
        assert "Captain" in text_of(sent[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert SECRET not in err and fake.token.split(":")[1] not in err
