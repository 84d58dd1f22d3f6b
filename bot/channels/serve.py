"""Serving an ASGI app (the Telegram and WeChat webhooks, the web chat) with uvicorn on one
address, until SIGINT or SIGTERM."""
from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.settings import ConfigError

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1000  # concurrent connections per server; more get 503 (bounded memory)
HEADER_TIMEOUT = 10.0   # seconds a client may take to send a request's line and headers
MAX_PER_ADDRESS = 100   # connections one client address may hold; more are refused (503)
# Addresses without that limit: a reverse proxy on the same machine speaks for everyone.
UNLIMITED_ADDRESSES = frozenset({"127.0.0.1", "::1"})
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0"
         b"\r\n\r\n")
_open_per_address: Counter[str] = Counter()


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a time limit on each request's headers and a cap
    on the connections of one client address.

    uvicorn starts no timer on a new connection until its first response: a client that
    opens connections and never finishes its headers (slowloris) keeps them forever, and
    once MAX_CONNECTIONS are open every request gets 503. Here a connection whose request
    line and headers are not complete HEADER_TIMEOUT seconds after it opened (or after its
    previous response) is closed, and one client address (outside UNLIMITED_ADDRESSES)
    may hold MAX_PER_ADDRESS connections: the next is answered 503 and closed at once, so
    one client cannot take every slot. The body has its own limit (bot.channels.http).
    """

    _header_timer: asyncio.TimerHandle | None = None
    _counted: str | None = None   # the address this connection is counted under

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        address = self.client[0] if self.client else None
        if address is not None and address not in UNLIMITED_ADDRESSES:
            if _open_per_address[address] >= MAX_PER_ADDRESS:
                transport.write(_BUSY)  # type: ignore[attr-defined]
                transport.close()
                return
            _open_per_address[address] += 1
            self._counted = address
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        if self._counted is not None:
            _open_per_address[self._counted] -= 1
            if _open_per_address[self._counted] <= 0:
                del _open_per_address[self._counted]
            self._counted = None
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
    so itself), at most MAX_CONNECTIONS connections at once and MAX_PER_ADDRESS from one
    address, each closed when its headers take longer than HEADER_TIMEOUT
    (:class:`HeaderTimeoutProtocol`)."""
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
