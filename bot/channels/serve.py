"""Serving an ASGI app (the Telegram and WeChat webhooks, the web chat) with uvicorn on one
address, until SIGINT or SIGTERM."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.settings import ConfigError

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000  # concurrent connections per server; more get 503 (bounded memory)
HEADER_TIMEOUT = 10.0   # seconds a client may take to send a request's line and headers


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a time limit on each request's headers.

    uvicorn starts no timer on a new connection until its first response: a client that
    opens connections and never finishes its headers (slowloris) keeps them forever, and
    MAX_CONNECTIONS of them get everyone else 503. Here a connection whose request line
    and headers are not complete HEADER_TIMEOUT seconds after it opened (or after its
    previous response) is closed. The body has its own limit (bot.channels.http).
    """

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._headers_late)

    def _headers_late(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return  # the headers came: a request is being answered
        if not self.transport.is_closing():
            self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on ``host``:``port`` (IPv6 when host has a colon).

    Raises:
        ConfigError: the address cannot be bound (in use, not local, no permission).
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__}"
                          "); check WEBHOOK_LISTEN and PORT") from None


def server_for(app: Callable[..., Any]) -> uvicorn.Server:
    """A uvicorn Server for the ASGI ``app``: no access log (a request line can carry ids),
    no Server header, no proxy-header handling of its own (an app that trusts a proxy says
    so itself), at most MAX_CONNECTIONS connections at once, each closed when its headers
    take longer than HEADER_TIMEOUT (:class:`HeaderTimeoutProtocol`)."""
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False,
                            proxy_headers=False, timeout_graceful_shutdown=5,
                            limit_concurrency=MAX_CONNECTIONS, http=HeaderTimeoutProtocol)
    return uvicorn.Server(config)


async def serve_async(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT or SIGTERM (or ``server.should_exit``), then close it.

    uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
    handler it found installed. The one installed here just asks the server to stop, so a
    signal arriving before uvicorn's own handlers are in place still stops it, and the
    command ends with status 0 like the Telegram ones (not killed by its own signal).
    """
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = ({sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
                if threading.current_thread() is threading.main_thread() else {})
    try:
        await server.serve(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def serve(app: Callable[..., Any], host: str, port: int, what: str, where: str = "") -> None:
    """Serve ``app`` on ``host``:``port`` until SIGINT or SIGTERM, then return.

    Args:
        app: the ASGI application.
        host, port: the address to bind (WEBHOOK_LISTEN and PORT).
        what, where: what is served and its path and mode, for the start-up log line
            ("WeChat webhook on 0.0.0.0:8080/wechat (plain mode)").
    Raises:
        ConfigError: the address cannot be bound.
    """
    sock = bind(host, port)
    server = server_for(app)
    log.info("%s on %s:%s%s", what, host, port, where)
    asyncio.run(serve_async(server, sock))
