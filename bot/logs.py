"""Logging set-up: one stderr handler whose every line is stripped of secrets and of what
users wrote or who they are, whichever library wrote the line.

* Secrets: httpx logs each request URL at INFO, and a Bot API URL carries the bot token, so
  httpx is kept at WARNING; and whatever a library writes (a message, an exception quoting
  the token), the final text of each record passes through :class:`SafeFormatter`, which
  replaces each secret with "***".
* Users: python-telegram-bot logs whole updates and Bot API parameters at DEBUG ("Processing
  update %s", "Calling Bot API endpoint ... with parameters ...") and the raw data of an
  update it cannot decode at CRITICAL. The formatter never renders such objects: an argument
  that is not a plain value (a dict, a list, a Telegram object, bytes, a JSON or XML string)
  is shown as ``<Update withheld>``; and in the text that remains, values of user fields
  (``text=``, ``"first_name":``, ``<Content>`` ...), e-mail addresses, @handles, runs of 5 or
  more digits (user and chat ids, phone numbers) and "admin 4242"-style ids are masked.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import IO, Any

WITHHELD = "***"
# Fields of Telegram updates, Bot API parameters and WeChat messages that carry what a user
# wrote or who they are.
USER_FIELDS = ("text", "caption", "first_name", "last_name", "username", "full_name", "name",
               "title", "bio", "query", "data", "callback_data", "phone_number", "email",
               "chat_id", "user_id", "from_user", "from", "id", "question", "address",
               "latitude", "longitude", "content", "fromusername", "openid")
_FIELD = re.compile(
    r"(?P<key>(?<![\w.])[\"']?(?i:" + "|".join(USER_FIELDS) + r")[\"']?\s*[:=]\s*)"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|[^\s,;)}\]>]+)")
_XML_FIELD = re.compile(r"<(?P<tag>Content|FromUserName|ToUserName|EventKey|Recognition|Label|"
                        r"Encrypt)>.*?</(?P=tag)>", re.DOTALL | re.IGNORECASE)
_PERSON = re.compile(r"\b(?P<who>admin|user|chat|subscriber|openid)(?P<sep>[\s#:=]+)\d+",
                     re.IGNORECASE)
# an address starts where its run of characters starts, taken whole: linear on long words
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]++@[\w-]+(?:\.[\w-]+)+")
# a WeChat openid (28 characters starting with "o"), as a database error's parameters
# show it: ('wechat', 'oWx3s5Qm8Y2jK9dLpR4tVbN7cZ1e')
_OPENID = re.compile(r"(?<![\w-])o[\w-]{27}(?![\w-])")
_HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
# (not after ":": "0.0.0.0:47387" is the port a server listens on, not a person)
_DIGITS = re.compile(r"(?<![A-Za-z0-9:])\+?\d{5,}(?![A-Za-z0-9])")
_PLAIN = (str, int, float, bool, type(None), BaseException, Enum, datetime, date, timedelta,
          os.PathLike)


def redact_user_data(text: str) -> str:
    """Return ``text`` with the values of user fields, e-mail addresses, WeChat openids,
    @handles, runs of 5 or more digits and "admin 4242"-style ids replaced by "***".
    Never raises."""
    text = _XML_FIELD.sub(lambda m: f"<{m['tag']}>{WITHHELD}</{m['tag']}>", text)
    text = _FIELD.sub(lambda m: m["key"] + WITHHELD, text)
    text = _PERSON.sub(lambda m: m["who"] + m["sep"] + WITHHELD, text)
    text = _EMAIL.sub(WITHHELD, text)
    text = _OPENID.sub(WITHHELD, text)
    text = _HANDLE.sub(WITHHELD, text)
    return _DIGITS.sub(WITHHELD, text)


def _safe_arg(value: Any) -> Any:
    """A log argument as it may be rendered: plain values as they are; anything that can
    hold a whole update (a Telegram object, a dict, a list, bytes, a JSON or XML string)
    as ``<Type withheld>``."""
    if isinstance(value, str):
        return "<data withheld>" if value.lstrip()[:1] in ("{", "[", "<") else value
    if isinstance(value, _PLAIN):
        return value
    return f"<{type(value).__name__} withheld>"


def _message(record: logging.LogRecord) -> str:
    """The record's message with every argument made safe (see :func:`_safe_arg`)."""
    msg = record.msg if isinstance(record.msg, str) else str(_safe_arg(record.msg))
    args = record.args
    try:
        if not args:
            return msg
        if isinstance(args, Mapping):
            if "%(" in msg:
                return msg % {k: _safe_arg(v) for k, v in args.items()}
            return msg % (_safe_arg(args),)  # log("%s", a_dict): logging unwrapped it
        return msg % tuple(_safe_arg(a) for a in args)
    except (TypeError, ValueError, KeyError):
        return f"{msg} <arguments withheld>"


class SafeFormatter(logging.Formatter):
    """Formats a record without secrets and without user data (see the module docstring).

    An exception is shown by its last line ("NetworkError: ..."), the whole traceback only
    at DEBUG: a start-up failure reads as one line, not a page.

    Args:
        secrets: strings replaced by "***" anywhere in the line (tokens, passwords).
        full_tracebacks: render whole tracebacks instead of their last line.
    """

    def __init__(self, secrets: list[str], full_tracebacks: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = [s for s in secrets if s]
        self.full = full_tracebacks

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:  # first: a token's digits must not be half-masked
            text = text.replace(secret, WITHHELD)
        return redact_user_data(text)

    def formatException(self, ei) -> str:
        text = super().formatException(ei)
        return self._scrub(text if self.full else "  " + text.strip().splitlines()[-1])

    def formatStack(self, stack_info: str) -> str:
        return self._scrub(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        # A copy: other handlers (and pytest's) still get the record as it was logged.
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = self._scrub(_message(record)), None
        safe.exc_text = None  # rendered by this formatter's rules, not a cached one
        text = super().format(safe)
        for secret in self.secrets:
            text = text.replace(secret, WITHHELD)
        return text


class BurstFilter(logging.Filter):
    """Let through at most ``burst`` lines of one kind (logger and message as written) per
    ``period`` seconds, INFO and WARNING only: an outsider's 4,000 refused requests a second
    would otherwise write tens of GB of log a day. The first line after a quiet spell says
    how many of its kind were left out. Errors always pass.

    Args:
        burst: lines of one kind per period.
        period: seconds.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(self, burst: int = 20, period: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst, self.period = burst, period
        self.clock = clock
        self._seen: dict[tuple[str, str], list[float]] = {}   # kind -> [start, count, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to log ``record`` (its message may get the count of lines left out)."""
        if record.levelno >= logging.ERROR:
            return True
        try:   # the line as written: refusals for different reasons are different kinds
            kind = (record.name, record.getMessage())
        except Exception:  # noqa: BLE001 - a bad format is the formatter's to report
            kind = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            if len(self._seen) > 1000:   # many kinds: forget the old windows
                self._seen = {k: v for k, v in self._seen.items()
                              if now - v[0] < self.period}
            window = self._seen.get(kind)
            if window is None or now - window[0] >= self.period:
                dropped = int(window[2]) if window else 0
                self._seen[kind] = [now, 1, 0]
                if dropped:   # grouped by thousands: a long digit run would be masked
                    record.msg = f"{record.msg} ({dropped:,} similar line(s) left out)"
                return True
            if window[1] < self.burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


def configure(level: str, secrets: list[str] | None = None,
              stream: IO[str] | None = None) -> None:
    """Log to ``stream`` (default stderr) at ``level`` (a level name), redacting
    ``secrets`` and user data (see :class:`SafeFormatter`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SafeFormatter(secrets or [], full_tracebacks=level.upper() == "DEBUG"))
    handler.addFilter(BurstFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "hpack"):  # request URLs (the token), header dumps
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at start-up
