"""Logging set-up: one stderr handler, secrets redacted from every record.

httpx logs each request URL at INFO, and a Bot API URL carries the bot token, so httpx is
kept at WARNING and every record passes through :class:`RedactSecrets` as well.
"""
from __future__ import annotations

import logging
import sys


class RedactSecrets(logging.Filter):
    """Replace each secret in a record's formatted message (and traceback) with "***"."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, ()
        return True


def configure(level: str, secrets: list[str] | None = None) -> None:
    """Log to stderr at ``level`` (a level name), redacting ``secrets``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
