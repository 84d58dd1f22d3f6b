"""Serving an ASGI app (the WeChat webhook, the web chat) with uvicorn on one address."""
from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from bot.settings import ConfigError

log = logging.getLogger(__name__)


def serve(app: Callable[..., Any], host: str, port: int, what: str, where: str = "") -> None:
    """Serve ``app`` on ``host``:``port`` until SIGINT or SIGTERM, then return.

    uvicorn's access log is off (a request line can carry ids), its Server header and its
    own proxy-header handling too (an app that trusts a proxy says so itself).

    Args:
        app: the ASGI application.
        host, port: the address to bind (WEBHOOK_LISTEN and PORT).
        what, where: what is served and its path and mode, for the start-up log line
            ("WeChat webhook on 0.0.0.0:8080/wechat (plain mode)").
    Raises:
        ConfigError: the address cannot be bound.
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__}"
                          "); check WEBHOOK_LISTEN and PORT") from None
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False,
                            proxy_headers=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
    # handler it found installed. This one just asks the server to stop, so a signal
    # arriving before uvicorn's own handlers are in place still stops it, and the command
    # ends with status 0 like the Telegram ones (not killed by its own signal).
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("%s on %s:%s%s", what, host, port, where)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
