"""A python-telegram-bot networking backend on aiohttp, for broadcasts.

PTB's default backend (``HTTPXRequest``) costs about 1.6 ms of CPU per message at 20
messages in flight: httpcore checks every pooled connection (a ``select`` on each socket)
for every request it sends. aiohttp's client costs about 0.25 ms for the same message
(measured in one run against the fake Bot API, benchmarks/bench_broadcast.py), which is
what lets one process send 1,000 messages a second with paid broadcasts. Everything above
the HTTP request (parameters, Telegram's answers and errors) stays PTB's.
"""
from __future__ import annotations

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """``telegram.request.BaseRequest`` over one ``aiohttp.ClientSession``.

    Args:
        connection_pool_size: connections kept open to the Bot API (>= 1): the messages
            that can be in flight at once.
        read_timeout: s to wait for Telegram's answer once the request was sent (a later
            answer raises ``TimedOut``: the message may have been delivered).
        connect_timeout: s to open a connection (``TimedOut`` caused by
            ``aiohttp.ConnectionTimeoutError``: nothing was sent).
        pool_timeout: s to wait for a free connection of the pool, on top of
            ``connect_timeout`` (also nothing sent).
    The session is opened by :meth:`initialize` (inside the running event loop) and closed by
    :meth:`shutdown`. There is no write time-out in aiohttp; a request of a few hundred
    bytes is written at once.
    """

    def __init__(self, connection_pool_size: int = 8, *, read_timeout: float | None = 5.0,
                 connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be >= 1")
        self._pool_size = connection_pool_size
        self._read_timeout, self._connect_timeout = read_timeout, connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read time-out in seconds (see the class docstring)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (once; later calls do nothing)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        """Close the session and its connections (once; later calls do nothing)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return (HTTP status, body). See ``BaseRequest.do_request``.

        Raises:
            TimedOut: no answer within the read time-out (the request left: in doubt), or
                no connection within the connect/pool time-out (caused by
                ``aiohttp.ConnectionTimeoutError``: nothing left).
            NetworkError: any other transport failure (refused, reset, ...).
            RuntimeError: before :meth:`initialize` or after :meth:`shutdown`.
        """
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (self._connect_timeout if isinstance(connect_timeout, DefaultValue)
                   else connect_timeout)
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=read, sock_connect=connect,
            connect=None if connect is None or pool is None else connect + pool)
        data: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mime) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            data = form
        elif request_data is not None:
            # the form as PTB's own backend sends it, encoded directly (aiohttp's FormData
            # builds a multipart writer, with a random boundary, for every request)
            data = request_data.url_encoded_parameters().encode()
            headers = _FORM
        try:
            async with self._session.request(method, url, data=data, headers=headers,
                                             timeout=timeout) as res:
                return res.status, await res.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut("Connect timeout: the request was not sent") from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
