"""Messages per second one bot process answers through a local fake Bot API (run by hand).

Starts the fake Bot API server from tests/fake_bot_api.py on loopback, runs the real PTB
Application of the project in polling mode against it, queues N messages from M simulated
users at once, and measures the time until every reply has been sent. Two configurations:

- production: AIORateLimiter as deployed (it holds the bot to Telegram's limits of about
  30 messages per second overall and 20 per minute per group), so the figure is capped;
- no limiter: the raw capacity of one process (matching, rendering, HTTP round trips).

Usage: python benchmarks/bench_telegram.py [--messages 600] [--users 50]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_bot_api import FakeBotApi  # noqa: E402
from telegram.ext import ApplicationBuilder  # noqa: E402

from bot.channels.telegram.app import attach, build_application, register_handlers  # noqa: E402
from bot.channels.telegram.state import CONTEXT_TYPES  # noqa: E402
from bot.core.engine import Assistant  # noqa: E402
from bot.knowledge.loader import load_knowledge  # noqa: E402
from bot.service import AssistantService  # noqa: E402
from bot.settings import Settings  # noqa: E402

QUESTIONS = ["Who spoke about preeclampsia?", "who is cai bin", "find a doctor",
             "hémorragie du post-partum", "谁讲了产后出血？", "أبحث عن طبيب تخدير",
             "what sessions were there", "li jin bao", "hello", "who organised the summit"]


async def measure(assistant: Assistant, limiter: bool, messages: int, users: int) -> dict:
    """Return {"messages", "seconds", "per_second", "first_reply_ms"} for one configuration."""
    async with FakeBotApi() as fake:
        settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url)
        if limiter:
            app = build_application(settings, assistant)
        else:
            app = (ApplicationBuilder().token(fake.token).base_url(fake.base_url)
                   .context_types(CONTEXT_TYPES).build())
            attach(app, AssistantService(assistant))
            register_handlers(app)
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            fake.user_sends("hello")          # warm-up: one round trip before timing
            await fake.wait_for_sent(1, timeout=10)
            rng = random.Random(1)
            started = time.perf_counter()
            for i in range(messages):
                user = 5000 + i % users
                fake.user_sends(rng.choice(QUESTIONS), chat_id=user, user_id=user)
            first = await fake.wait_for_sent(2, timeout=60)
            first_ms = (time.perf_counter() - started) * 1000
            await fake.wait_for_sent(messages + 1, timeout=600)
            seconds = time.perf_counter() - started
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    assert first
    return {"messages": messages, "seconds": round(seconds, 2),
            "per_second": round(messages / seconds, 1), "first_reply_ms": round(first_ms, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    assistant = Assistant(load_knowledge(ROOT / "knowledge"))
    for name, limiter in (("no limiter (raw capacity)", False),
                          ("production (AIORateLimiter)", True)):
        result = await measure(assistant, limiter, args.messages, args.users)
        print(f"{name:<30} {result['messages']} messages in {result['seconds']} s = "
              f"{result['per_second']} msg/s; first reply after {result['first_reply_ms']} ms")


if __name__ == "__main__":
    asyncio.run(main())
