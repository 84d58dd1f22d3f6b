"""Logging set-up: one stderr handler whose every line has the secrets redacted.

httpx logs each request URL at INFO, and a Bot API URL carries the bot token, so httpx is
kept at WARNING; and whatever a library writes (a message, an exception quoting the token),
the final text of each record passes through :class:`SafeFormatter`.
"""
from __future__ import annotations

import logging
import sys


class SafeFormatter(logging.Formatter):
    """Formats a record, then replaces each secret with "***".

    An exception is shown by its last line ("NetworkError: ..."), the whole traceback only
    at DEBUG: a start-up failure reads as one line, not a page.
    """

    def __init__(self, secrets: list[str], full_tracebacks: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = [s for s in secrets if s]
        self.full = full_tracebacks

    def formatException(self, ei) -> str:
        text = super().formatException(ei)
        return text if self.full else "  " + text.strip().splitlines()[-1]

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # rendered by this formatter's rules, not a cached one
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def configure(level: str, secrets: list[str] | None = None) -> None:
    """Log to stderr at ``level`` (a level name), redacting ``secrets``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(secrets or [], full_tracebacks=level.upper() == "DEBUG"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at start-up
