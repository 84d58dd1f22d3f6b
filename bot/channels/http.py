"""What the HTTP channels (Telegram webhook, WeChat, web chat) share to read a request: a
body read with a size cap and a time limit, and a JSON object parsed with a nesting limit
(serving is :mod:`bot.channels.serve`).

A body is never read before the caller has checked what it can check without it (a secret
header, a signature in the query): a refused request costs no memory. A declared
Content-Length over the cap is refused (413) before any byte is read; a body sent without
one (chunked) is read chunk by chunk and refused as soon as it passes the cap.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

BODY_TIMEOUT = 10.0        # seconds a client may take to send a body (slow-loris guard)
MAX_JSON_DEPTH = 64        # nesting of arrays and objects; a Telegram update uses about 10


class Refused(Exception):
    """A request answered with an error status; ``reason`` is logged and sent (it never
    contains the body)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """Return the request body, at most ``limit`` bytes, received within ``timeout``
    seconds (default BODY_TIMEOUT, read at each call).

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
    if timeout is None:
        timeout = BODY_TIMEOUT
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


def json_object(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Return the JSON object ``body`` holds (UTF-8).

    Raises:
        Refused: 400 when it is not UTF-8 JSON (NaN and Infinity are not), not an object,
            or nests arrays and objects deeper than ``max_depth`` (the parser itself gives
            up with RecursionError on a deep enough one: that is a 400 too, never a 500).
    """
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the body is not UTF-8 JSON") from None
    except RecursionError:
        raise Refused(400, f"JSON nested deeper than {max_depth} levels") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body is not a JSON object")
    if _depth_over(data, max_depth):
        raise Refused(400, f"JSON nested deeper than {max_depth} levels")
    return data


def _not_json(constant: str) -> None:
    """NaN, Infinity and -Infinity: Python's parser takes them, JSON has no such values."""
    raise ValueError(f"{constant} is not JSON")


def _depth_over(data: object, limit: int) -> bool:
    """True when ``data`` nests lists and dicts more than ``limit`` deep (no recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
