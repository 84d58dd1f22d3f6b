"""Broadcast throughput, exactness and memory through a local fake Bot API (run by hand).

Generates subscribers (bulk INSERT), creates one announcement and lets
:class:`bot.broadcast.BroadcastWorker` send it with a real python-telegram-bot ``Bot`` (the
channel's TelegramSender and broadcast Bot, as ``forumbot run`` has them) to a fake Telegram
Bot API over loopback HTTP: by default a lean one (:class:`LeanBotApi`, about 0.03 ms of CPU
per message, so that it is not what limits the run), with ``--faithful-fake`` the one of
tests/fake_bot_api.py. The fake runs in a child process, so its record of the sent messages
does not count in the senders' memory; at the end it reports how many messages each chat
got, giving the duplicates and missing ones.

Runs, in order:

1. pacing: a small run at 25 messages/s (the production default) - the measured rate must not
   exceed it;
2. a 10,000-subscriber run and a 100,000-subscriber run at a high rate (``--rate``, 5,000/s)
   with tracemalloc on: messages per second, duplicates (must be 0), missing (must be 0) and
   the peak memory of the pass, which must stay flat (delivery rows are created inside the
   database and claimed in batches, never loaded whole).

3. with ``--instances N`` (N >= 2): the multi-instance run instead: N worker processes (each
   its own engine, event loop and Bot, like N bot instances) share one announcement to
   ``--subscribers`` subscribers with BROADCAST_RATE ``--rate`` for the whole bot (paid
   broadcasts allow 1,000/s) and ``--concurrency`` messages in flight per instance:
   messages per second together, duplicates and missing ones (both must be 0); the CPU
   per message of each part (the instances, the fake Bot API, the instances' PostgreSQL
   backends when the server is local), each instance's RSS at the start, its peak and at
   the end, and the load average before and after (the figures depend on what else runs).

Usage: python benchmarks/bench_broadcast.py [--subscribers 100000] [--small 10000]
       [--rate 5000] [--pacing-messages 100] [--database-url URL] [--no-tracemalloc]
       python benchmarks/bench_broadcast.py --instances 2 --rate 1000 --subscribers 100000
       --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_bc
Without --database-url a temporary SQLite file is used; give a PostgreSQL URL (e.g.
postgresql://postgres@127.0.0.1:5432/test) to measure there (a scratch schema is created and
dropped).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import secrets
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.broadcast import BroadcastWorker, create_adhoc  # noqa: E402
from bot.storage import SubscriberModel, create_engine_for, migrate  # noqa: E402

FIRST_CHAT = 10_000_000


# --- the fake Bot API, in a child process ---------------------------------------------------

def _serve(conn, faithful: bool) -> None:
    """The fake Bot API's process: answers sendMessage over loopback HTTP and, on each
    ``(first, count)`` command from the pipe, tells how chats first..first+count-1 fared
    (messages, duplicates, missing, unexpected) and the CPU seconds it used meanwhile."""
    async def main():
        if faithful:   # tests/fake_bot_api.py: every check and record (costs more CPU)
            from fake_bot_api import FakeBotApi
            fake = FakeBotApi()
            await fake.start()
            token, base_url = fake.token, fake.base_url

            def received() -> Counter:
                got = Counter(m["chat"]["id"] for m in fake.sent)
                fake.sent.clear()
                fake.calls.clear()
                fake._messages.clear()
                return got
        else:
            lean = LeanBotApi()
            await lean.start()
            token, base_url = lean.token, lean.base_url

            def received() -> Counter:
                got, lean.received = lean.received, Counter()
                return got
        conn.send((token, base_url))
        loop = asyncio.get_running_loop()
        cpu = time.process_time()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            first, count = command           # "how did chats first..first+count-1 fare?"
            got = received()
            expected = range(first, first + count)
            conn.send({"messages": sum(got.values()),
                       "duplicates": sum(n - 1 for n in got.values() if n > 1),
                       "missing": sum(1 for chat in expected if chat not in got),
                       "unexpected": sum(1 for chat in got if not first <= chat < first + count),
                       "cpu_s": time.process_time() - cpu})
            cpu = time.process_time()
        if faithful:
            await fake.stop()
    asyncio.run(main())


class LeanBotApi:
    """A lean fake of the Bot API for throughput runs, so that the fake is not what
    limits them (tests/fake_bot_api.py checks and records everything, at about 0.14 ms of
    CPU per message): plain asyncio, HTTP/1.1 with keep-alive and Content-Length bodies
    (what aiohttp's client sends), ``getMe`` and ``sendMessage`` only, form or JSON
    parameters; it counts the messages per chat (``received``) and answers each with a
    Message as Telegram does."""

    token = "123456:LEAN-bench-token"
    _me = (b'{"ok":true,"result":{"id":123456,"is_bot":true,"first_name":"Bench",'
           b'"username":"bench_bot","can_join_groups":true}}')
    _message = ('{"ok":true,"result":{"message_id":%d,"from":{"id":123456,"is_bot":true,'
                '"first_name":"Bench","username":"bench_bot"},"chat":{"id":%d,'
                '"type":"private","first_name":"Subscriber"},"date":%d,"text":%s}}')

    def __init__(self) -> None:
        self.received: Counter = Counter()
        self._next_id = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _LeanConnection(self), "127.0.0.1", 0)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/bot"

    def answer(self, path: bytes, headers: bytes, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for one request."""
        method = path.rsplit(b"/", 1)[-1].split(b"?", 1)[0].lower()
        if not path.startswith(f"/bot{self.token}/".encode()):
            return 401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
        if method == b"getme":
            return 200, self._me
        if method != b"sendmessage":
            return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        if b"application/json" in headers.lower():
            params = {k: str(v) for k, v in json.loads(body).items()}
        else:
            params = dict(urllib.parse.parse_qsl(body.decode()))
        chat = int(params["chat_id"])
        self.received[chat] += 1
        self._next_id += 1
        return 200, (self._message % (self._next_id, chat, int(time.time()),
                                      json.dumps(params.get("text", "")))).encode()


class _LeanConnection(asyncio.Protocol):
    def __init__(self, api: LeanBotApi) -> None:
        self.api, self.buffer = api, b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end_of_head := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end_of_head]
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            end = end_of_head + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[end_of_head + 4:end], self.buffer[end:]
            status, payload = self.api.answer(head.split(b" ", 2)[1], head, body)
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (status, len(payload), payload))


# --- what a part costs: CPU seconds of processes, RSS ----------------------------------------

def _rss_mib() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a local process used so far, or None when it cannot be
    read (a PostgreSQL server on another machine)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends_cpu_s(engine, application_name: str) -> float | None:
    """CPU seconds of the PostgreSQL backends serving the connections named
    ``application_name`` (the server is local), or None."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                            {"n": application_name}).scalars().all()
    times = [_proc_cpu_s(pid) for pid in pids]
    return sum(t for t in times if t is not None) if times and None not in times else None


# The Telegram channel's sender, as the bot uses it.
from bot.channels.telegram.subscribe import TelegramSender  # noqa: E402

# --- database -----------------------------------------------------------------------------

def scratch_database(url: str | None):
    """(engine, cleanup) on an empty database."""
    if url is None:
        folder = tempfile.mkdtemp(prefix="bench_broadcast_")
        engine = create_engine_for(f"sqlite:///{folder}/bench.sqlite3")

        def cleanup():
            engine.dispose()
            for f in Path(folder).iterdir():
                f.unlink()
            os.rmdir(folder)
        return engine, cleanup
    admin = create_engine_for(url)
    schema = f"bench_{secrets.token_hex(4)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_engine_for(scoped.render_as_string(hide_password=False))

    def cleanup():
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    return engine, cleanup


def reset_and_fill(engine, count: int) -> float:
    """Empty the broadcast tables and bulk-insert ``count`` active subscribers; seconds taken."""
    table = SubscriberModel.__table__
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        for name in ("deliveries", "announcements", "subscribers"):
            conn.execute(sa.text(f"DELETE FROM {name}"))
        for start in range(0, count, 10_000):
            conn.execute(sa.insert(table), [
                {"channel": "telegram", "chat_id": str(FIRST_CHAT + i), "language": None,
                 "status": "active", "subscribed_at": now, "unsubscribed_at": None,
                 "updated_at": now}
                for i in range(start, min(count, start + 10_000))])
    return time.perf_counter() - started


async def one_run(engine, conn, token, base_url, subscribers: int, rate: float,
                  trace: bool) -> dict:
    from telegram import Bot
    fill = reset_and_fill(engine, subscribers)
    create_adhoc(engine, "The closing ceremony starts at 10:00 in hall A.", "bench")
    reports = []

    async def on_finished(rep):
        reports.append(rep)
    from bot.channels.telegram.subscribe import broadcast_request
    concurrency = 1 if rate < 50 else int(rate / 25)   # as forumbot run sets it
    async with Bot(token, base_url=base_url, request=broadcast_request(concurrency)) as bot:
        worker = BroadcastWorker(engine, TelegramSender(bot), worker_id="bench",
                                 rate_per_second=rate, concurrency=concurrency,
                                 on_finished=on_finished)
        if trace:
            tracemalloc.start()
            tracemalloc.reset_peak()
        started = time.perf_counter()
        sent = await worker.run_due()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    conn.send((FIRST_CHAT, subscribers))
    seen = conn.recv()
    return {"subscribers": subscribers, "rate": rate, "fill_s": round(fill, 2),
            "sent": sent, "seconds": round(seconds, 2),
            "per_second": round(sent / seconds, 1) if seconds else None,
            "duplicates": seen["duplicates"], "missing": seen["missing"],
            "received": seen["messages"], "unexpected": seen["unexpected"],
            "report": (reports[0].status, reports[0].sent) if reports else None,
            "peak_mib": round(peak / 2**20, 2) if peak is not None else None}


def _instance(url: str, token: str, base_url: str, rate: float, concurrency: int, name: str,
              start, out) -> None:
    """One bot instance in its own process, set up as ``forumbot run`` sets up its worker
    (the channel's TelegramSender and broadcast Bot): send what it can claim; report its
    count, its CPU seconds and those of its PostgreSQL backends, its RSS (start, peak, end)."""
    async def main() -> dict:
        from telegram import Bot

        from bot.channels.telegram.subscribe import broadcast_request
        if url.startswith("postgresql"):   # names this instance's backends (their CPU)
            engine = create_engine_for(make_url(url).update_query_dict(
                {"application_name": f"bench-{name}"}).render_as_string(hide_password=False))
        else:
            engine = create_engine_for(url)
        rss = [_rss_mib()]

        async def sample() -> None:
            while True:
                await asyncio.sleep(1.0)
                rss.append(_rss_mib())
        async with Bot(token, base_url=base_url, request=broadcast_request(concurrency)) as bot:
            worker = BroadcastWorker(engine, TelegramSender(bot, paid=True), worker_id=name,
                                     rate_per_second=rate, concurrency=concurrency)
            await asyncio.to_thread(migrate, engine)   # connects; a no-op on a migrated one
            db_before = _backends_cpu_s(engine, f"bench-{name}")
            rss[0] = _rss_mib()
            start.wait()
            cpu = time.process_time()
            sampler = asyncio.ensure_future(sample())
            sent = await worker.run_due()
            sampler.cancel()
            cpu = time.process_time() - cpu
            rss.append(_rss_mib())
        db_after = _backends_cpu_s(engine, f"bench-{name}")
        engine.dispose()
        return {"sent": sent, "cpu_s": cpu, "rss": (rss[0], max(rss), rss[-1]),
                "db_cpu_s": None if db_before is None or db_after is None
                else db_after - db_before}
    result = asyncio.run(main())
    out.put((name, result, time.time()))


def multi_instance_run(args, conn, token, base_url) -> bool:
    engine, cleanup = scratch_database(args.database_url)
    try:
        migrate(engine)
        url = engine.url.render_as_string(hide_password=False)
        fill = reset_and_fill(engine, args.subscribers)
        create_adhoc(engine, "The closing ceremony starts at 10:00 in hall A.", "bench")
        ctx = mp.get_context("spawn")
        start, out = ctx.Barrier(args.instances + 1), ctx.Queue()
        procs = [ctx.Process(target=_instance, args=(url, token, base_url, args.rate,
                                                      args.concurrency, f"i{i}", start, out))
                 for i in range(args.instances)]
        for p in procs:
            p.start()
        start.wait()
        began = time.time()
        results = [out.get(timeout=3600) for _ in procs]
        for p in procs:
            p.join(30)
        seconds = max(t for _, _, t in results) - began
        sent = sum(r["sent"] for _, r, _ in results)
        conn.send((FIRST_CHAT, args.subscribers))
        seen = conn.recv()
        rate = sent / seconds if seconds else 0.0
        shares = ", ".join(f"{n}: {r['sent']:,}" for n, r, _ in results)
        print(f"{args.instances} instances on {engine.dialect.name}, BROADCAST_RATE "
              f"{args.rate:g}/s, concurrency {args.concurrency}: {sent:,} sent in {seconds:.1f} s "
              f"= {rate:.0f}/s together ({shares}); "
              f"received {seen['messages']:,}, duplicates {seen['duplicates']}, missing "
              f"{seen['missing']} (bulk insert {fill:.1f} s)", flush=True)
        per = 1000 / max(1, sent)
        db = [r["db_cpu_s"] for _, r, _ in results]
        print(f"CPU per message: instances {sum(r['cpu_s'] for _, r, _ in results) * per:.3f} ms, "
              f"fake Bot API {seen['cpu_s'] * per:.3f} ms, PostgreSQL backends "
              + (f"{sum(db) * per:.3f} ms" if None not in db else "n/a (not local)"), flush=True)
        for n, r, _ in results:
            first, peak, last = r["rss"]
            print(f"memory {n}: RSS {first:.1f} MiB at the start, {peak:.1f} MiB peak, "
                  f"{last:.1f} MiB at the end", flush=True)
        return seen["duplicates"] == 0 and seen["missing"] == 0 and rate <= args.rate * 1.05
    finally:
        cleanup()


def show(title: str, r: dict) -> None:
    print(f"{title}: {r['subscribers']:,} subscribers, configured {r['rate']:g}/s -> "
          f"{r['sent']:,} sent in {r['seconds']} s = {r['per_second']}/s; "
          f"received {r['received']:,}, duplicates {r['duplicates']}, missing {r['missing']}; "
          f"report {r['report']}"
          + (f"; peak tracemalloc {r['peak_mib']} MiB" if r["peak_mib"] is not None else "")
          + f" (bulk insert {r['fill_s']} s)", flush=True)


async def main_async(args, conn, token, base_url) -> int:
    engine, cleanup = scratch_database(args.database_url)
    ok = True
    try:
        migrate(engine)
        print(f"database: {engine.dialect.name}", flush=True)
        pacing = await one_run(engine, conn, token, base_url, args.pacing_messages, 25.0,
                               trace=False)
        show("pacing", pacing)
        ok &= pacing["per_second"] <= 25.0 and pacing["duplicates"] == pacing["missing"] == 0
        results = []
        for count in (args.small, args.subscribers):
            r = await one_run(engine, conn, token, base_url, count, args.rate,
                              trace=not args.no_tracemalloc)
            show(f"{count:,}", r)
            results.append(r)
            ok &= r["duplicates"] == 0 and r["missing"] == 0 and r["per_second"] <= args.rate
        small, large = results
        if args.no_tracemalloc:
            print("OK" if ok else "FAILED: see the figures above")
            return 0 if ok else 1
        growth = large["peak_mib"] / small["peak_mib"]
        print(f"peak memory: {small['peak_mib']} MiB at {small['subscribers']:,} vs "
              f"{large['peak_mib']} MiB at {large['subscribers']:,} (x{growth:.2f} for "
              f"x{large['subscribers'] / small['subscribers']:g} subscribers)")
        ok &= growth < 1.5
    finally:
        cleanup()
    print("OK" if ok else "FAILED: see the figures above")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--pacing-messages", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--instances", type=int, default=1,
                        help="run N bot instances (processes) on one database instead")
    parser.add_argument("--concurrency", type=int, default=20,
                        help="messages in flight per instance in the multi-instance run")
    parser.add_argument("--faithful-fake", action="store_true",
                        help="answer with tests/fake_bot_api.py (every check, more CPU) "
                             "instead of the lean fake Bot API")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="measure the rate without tracemalloc (which slows Python "
                             "down about 2-3x); no memory figures")
    args = parser.parse_args()
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(child, args.faithful_fake),
                                             daemon=True)
    server.start()
    token, base_url = parent.recv()
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    try:
        if args.instances > 1:
            ok = multi_instance_run(args, parent, token, base_url)
            print("OK" if ok else "FAILED: see the figures above")
            return 0 if ok else 1
        return asyncio.run(main_async(args, parent, token, base_url))
    finally:
        print("load average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
              flush=True)
        parent.send("stop")
        server.join(10)


if __name__ == "__main__":
    sys.exit(main())
