"""Latency of one message through the AssistantService with a database (run by hand).

Each message is answered by ``AssistantService.handle``: the conversation's state is loaded
from the database, the core answers with the context, then the state is saved (one upsert)
and the reply counted in the question log, in one transaction. Conversations follow the pattern of real chats:
a question, then follow-ups ("what did he talk about?", "the second one", ...) in four
languages, over many conversation keys. The baseline, measured in the same run on the same
messages, is the core alone (``Assistant.reply``), so the ratio shows what the service adds.

Target: p99 under 5 ms per message on SQLite.

Usage: python benchmarks/bench_service.py [--messages 3000] [--conversations 200]
       [--database-url URL]
Without --database-url a temporary SQLite file is used (WAL, as the bot runs it); give a
PostgreSQL URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to measure there (a scratch
schema is created and dropped).
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from bot.core.engine import Assistant  # noqa: E402
from bot.core.types import Message  # noqa: E402
from bot.knowledge.loader import load_knowledge  # noqa: E402
from bot.service import AssistantService  # noqa: E402
from bot.storage import Storage, create_engine_for  # noqa: E402

CHATS = [
    ["who is cai bin", "what did he talk about?", "what about Li Jinbao?", "tell me more"],
    ["qui est Brini Jihane", "et elle ?", "1", "je cherche une sage-femme"],
    ["Cai Bin 是谁", "他讲了什么？", "他呢", "谁讲了子痫前期？"],
    ["شكون هي Brini Jihane", "و هي، على شنو هضرات؟", "و هو؟", "أبحث عن طبيب تخدير"],
    ["find a doctor", "the second one", "who spoke about preeclampsia?", "what did she say"],
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def messages(count: int, conversations: int) -> list[tuple[str, str]]:
    """(conversation key, text) pairs: conversations take turns, each walking a chat."""
    out: list[tuple[str, str]] = []
    turn = [0] * conversations
    i = 0
    while len(out) < count:
        c = i % conversations
        chat = CHATS[c % len(CHATS)]
        out.append((f"user-{c}", chat[turn[c] % len(chat)]))
        turn[c] += 1
        i += 1
    return out


def _load() -> str:
    """The 1-minute load average (latencies on a shared machine follow it)."""
    return f"{os.getloadavg()[0]:.2f}"


def report(name: str, ms: list[float], baseline: list[float] | None = None) -> None:
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    line = (f"{name:<34} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   mean {statistics.mean(ms):7.3f}"
            f" ms   max {max(ms):7.3f} ms")
    if baseline:
        line += (f"   x{p50 / percentile(baseline, 50):.1f} p50,"
                 f" x{p99 / percentile(baseline, 99):.1f} p99 of the core")
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    load_at_start = _load()
    assistant = Assistant(load_knowledge(ROOT / "knowledge"))
    plan = messages(args.messages, args.conversations)
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        admin = None
        if url.startswith("postgres"):
            admin = create_engine_for(url)
            schema = f"bench_{secrets.token_hex(6)}"
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = make_url(url).update_query_dict(
                {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        service = AssistantService(assistant, Storage.open(url))
        try:
            for key, text in plan[:200]:  # warm-up: caches, connections, first rows
                service.handle("bench", key, Message(text))
                assistant.reply(Message(text))
            core, through = [], []
            for key, text in plan:
                started = time.perf_counter()
                assistant.reply(Message(text))
                core.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                service.handle("bench", key, Message(text))
                through.append((time.perf_counter() - started) * 1000)
        finally:
            service.close()
            if admin is not None:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
                admin.dispose()
    backend = "PostgreSQL" if schema else "SQLite"
    print(f"{len(plan)} messages, {args.conversations} conversations, {backend}; load average"
          f" {load_at_start} at start, {_load()} at end")
    report("core alone (Assistant.reply)", core)
    report(f"service.handle ({backend})", through, core)
    p99 = percentile(through, 99)
    print(f"target p99 < 5 ms: {'met' if p99 < 5 else 'NOT met'} ({p99:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
