"""What the HTTP channels (Telegram webhook, WeChat, web chat) share to read a request: a
body read with a size cap and a time limit (serving is :mod:`bot.channels.serve`).

A body is never read before the caller has checked what it can check without it (a secret
header, a signature in the query): a refused request costs no memory. A declared
Content-Length over the cap is refused (413) before any byte is read; a body sent without
one (chunked) is read chunk by chunk and refused as soon as it passes the cap.
"""
from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

BODY_TIMEOUT = 10.0        # seconds a client may take to send a body (slow-loris guard)


class Refused(Exception):
    """A request answered with an error status; ``reason`` is logged and sent (it never
    contains the body)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: Request, limit: int, timeout: float = BODY_TIMEOUT) -> bytes:
    """Return the request body, at most ``limit`` bytes.

    Raises:
        Refused: 413 when the declared or the streamed size passes ``limit`` (bytes), 400
            when Content-Length is not a number or the client leaves mid-body, 408 when the
            body takes longer than ``timeout`` seconds.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise Refused(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise Refused(413, f"body over {limit} bytes")
    chunks, total = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise Refused(413, f"body over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, f"body not received within {timeout:g} s") from None
    except ClientDisconnect:
        raise Refused(400, "the client left before sending the whole body") from None
    return b"".join(chunks)
