"""Secrets never reach the log, whatever a library puts in a message or an exception."""
from __future__ import annotations

import logging

from bot.logs import SafeFormatter

TOKEN = "123456:SECRETsecretSECRETsecret"


def record(msg, *args, exc=None):
    return logging.LogRecord("telegram.ext", logging.ERROR, __file__, 1, msg, args,
                             (type(exc), exc, None) if exc else None)


def test_token_in_message_args_and_exception_is_redacted():
    fmt = SafeFormatter([TOKEN], full_tracebacks=True)
    text = fmt.format(record("POST https://api.telegram.org/bot%s/getMe", TOKEN,
                             exc=ValueError(f"The token `{TOKEN}` was rejected")))
    assert TOKEN not in text and "SECRET" not in text
    assert "bot***/getMe" in text and "The token `***` was rejected" in text


def test_tracebacks_are_one_line_unless_debug():
    try:
        raise ConnectionError("All connection attempts failed")
    except ConnectionError as exc:
        rec = record("Aborting.", exc=exc)
        rec.exc_info = (type(exc), exc, exc.__traceback__)
    short = SafeFormatter([], full_tracebacks=False).format(rec)
    assert short.splitlines()[-1] == "  ConnectionError: All connection attempts failed"
    assert "Traceback" not in short
    assert "Traceback" in SafeFormatter([], full_tracebacks=True).format(rec)
