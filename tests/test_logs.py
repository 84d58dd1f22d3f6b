"""Secrets never reach the log, whatever a library puts in a message or an exception."""
from __future__ import annotations

import io
import logging

from bot import logs
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


def test_a_flood_of_one_kind_of_line_is_cut_and_counted():
    now = [0.0]
    burst = logs.BurstFilter(burst=3, period=10.0, clock=lambda: now[0])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(burst)
    log = logging.getLogger("flood-test")
    log.addHandler(handler)
    log.propagate = False
    try:
        for _ in range(100):
            log.warning("web message refused with %d: %s", 413, "too_large")
        log.warning("another kind of line")
        log.warning("web message refused with %d: %s", 403, "nonce reused")   # other reason
        log.error("an error always passes")
        now[0] = 11.0
        log.warning("web message refused with %d: %s", 413, "too_large")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines.count("web message refused with 413: too_large") == 3
    assert "another kind of line" in lines and "an error always passes" in lines
    assert "web message refused with 403: nonce reused" in lines
    assert lines[-1] == "web message refused with 413: too_large (97 similar line(s) left out)"


def test_a_listening_port_is_shown_and_a_phone_number_is_not():
    assert logs.redact_user_data("web chat on 0.0.0.0:47387") == "web chat on 0.0.0.0:47387"
    assert "0612345678" not in logs.redact_user_data("call me on 0612345678")
