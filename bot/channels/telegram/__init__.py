"""Telegram channel: the core assistant as a python-telegram-bot 22 Application."""
import os

# PTB 22.2 deprecated reading time periods (RetryAfter.retry_after ...) as int seconds and
# warns on each read; the documented way forward is to opt in to datetime.timedelta values,
# which the code of this package expects. Set before any PTB object is read.
os.environ.setdefault("PTB_TIMEDELTA", "true")
