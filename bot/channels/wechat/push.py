"""Announcements to WeChat followers: customer-service messages inside WeChat's 48-hour
window, template messages outside it, one access token for every instance.

An Official Account cannot push freely. WeChat's rules (Official Account documentation,
"customer service messages" and "template messages"):

* for 48 hours after a follower's last message or event, the account may send them
  customer-service messages (``message/custom/send``); outside that window WeChat answers
  errcode 45015, and 45047 when too many were sent in one window;
* outside it, only a template message (``message/template/send``) of a template the account
  registered (WECHAT_TEMPLATE_ID) reaches them;
* every call carries an access token from ``token`` (valid 7,200 s). Fetching a new one
  invalidates the previous one, so several instances must not each fetch their own: the
  token lives in the database (``access_tokens``), one instance fetches under a row lock
  and the others use it. errcode 40001/42001/40014 (invalid or expired token) refreshes it
  once; the token is a secret and never appears in a log line or an error text.

:class:`WeChatSender` maps WeChat's answers onto the broadcast worker's errors: 43004 (the
follower unsubscribed) -> Blocked; -1 (system busy) -> TransientError (retried); 45009
(daily quota) -> RetryLater; out of the window with no template -> Unreachable.

httpx is used directly (not wechatpy's client): the client of wechatpy fetches and caches a
token per process and refetches on its own on 40001, which is exactly what must not happen
with several instances.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.broadcast.delivery import Blocked, PermanentError, RetryLater, TransientError, Unreachable
from bot.storage.models import AccessTokenModel, SubscriberModel, as_utc, utc_now

log = logging.getLogger(__name__)
_TOKEN_IN_URL = re.compile(r"((?:access_token|secret)=)[^&\s\"']+")


class _HideAccessToken(logging.Filter):
    """httpx logs every request line at INFO with its query string, where WeChat wants the
    access token (and, to fetch one, the AppSecret): hide both in every record of the
    ``httpx`` logger, before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_TOKEN_IN_URL.search(str(a)) for a in record.args):
            record.args = tuple(_TOKEN_IN_URL.sub(r"\1<hidden>", str(a))
                                if _TOKEN_IN_URL.search(str(a)) else a for a in record.args)
        if isinstance(record.msg, str) and _TOKEN_IN_URL.search(record.msg):
            record.msg = _TOKEN_IN_URL.sub(r"\1<hidden>", record.msg)
        return True


logging.getLogger("httpx").addFilter(_HideAccessToken())

CHANNEL = "wechat"
WINDOW = timedelta(hours=48)          # customer-service messages after a follower's message
TOKEN_MARGIN = timedelta(minutes=5)   # refresh a token this long before it expires
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
OUT_OF_WINDOW = frozenset({45015, 45047})
UNSUBSCRIBED = 43004
BUSY = -1
QUOTA = 45009

_t = cast(sa.Table, AccessTokenModel.__table__)
_s = cast(sa.Table, SubscriberModel.__table__)


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode (``errcode``, ``errmsg``)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class AccessTokens:
    """The account's access token, shared through the database by every instance.

    Args:
        engine: a migrated engine (table ``access_tokens``).
        app_id, app_secret: the account's AppID and AppSecret (the secret is sent to
            WeChat's ``token`` endpoint only).
        client: an ``httpx.AsyncClient`` whose base URL is the WeChat API
            (WECHAT_API_BASE_URL).
        clock: returns the current aware datetime.
    """

    def __init__(self, engine: Engine, app_id: str, app_secret: str, client: httpx.AsyncClient,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.engine, self.app_id, self._secret = engine, app_id, app_secret
        self.client, self._clock = client, clock
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock = asyncio.Lock()   # one fetch at a time in this process too
        self.fetches = 0              # tokens this process fetched (tests, reports)

    def __repr__(self) -> str:   # never show the secret
        return f"AccessTokens(app_id={self.app_id!r})"

    def _stored(self) -> str | None:
        now = as_utc(self._clock())
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_t.c.token, _t.c.expires_at)
                               .where(_t.c.app_id == self.app_id)).first()
        if row is None or as_utc(row.expires_at) - TOKEN_MARGIN <= now:
            return None
        return str(row.token)

    async def get(self, invalid: str | None = None) -> str:
        """Return a valid token: the stored one, or a new one fetched by exactly one
        instance. ``invalid`` is a token WeChat just refused: it is replaced unless
        another instance replaced it already.

        Raises:
            WeChatApiError: the token endpoint refused (wrong AppSecret, IP not allowed).
            TransientError: WeChat could not be reached.
        """
        token = await asyncio.to_thread(self._stored)
        if token is not None and token != invalid:
            return token
        async with self._lock:
            return await asyncio.to_thread(self._fetch_locked, invalid)

    def _fetch_locked(self, invalid: str | None) -> str:
        """In one transaction that holds the row (FOR UPDATE / BEGIN IMMEDIATE): look again,
        fetch only when still needed, store. Runs in a worker thread."""
        now = as_utc(self._clock())
        with self.engine.begin() as conn:
            if self._sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                             {"k": f"wechat-token:{self.app_id}"})
            row = conn.execute(sa.select(_t.c.token, _t.c.expires_at)
                               .where(_t.c.app_id == self.app_id)).first()
            if row is not None and row.token != invalid and \
                    as_utc(row.expires_at) - TOKEN_MARGIN > now:
                return str(row.token)         # another instance fetched it meanwhile
            token, expires_in = self._request_token()
            self.fetches += 1
            expires = now + timedelta(seconds=expires_in)
            if row is None:
                conn.execute(sa.insert(_t).values(app_id=self.app_id, token=token,
                                                  expires_at=expires))
            else:
                conn.execute(sa.update(_t).where(_t.c.app_id == self.app_id)
                             .values(token=token, expires_at=expires))
            log.info("WeChat access token renewed (valid %d s)", expires_in)
            return token

    def _request_token(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self.app_id,
                  "secret": self._secret}
        try:
            with httpx.Client(base_url=self.client.base_url, timeout=10) as sync:
                data = sync.get("token", params=params).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TransientError(f"token endpoint: {type(exc).__name__}") from None
        if data.get("errcode"):
            raise WeChatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        return str(data["access_token"]), int(data.get("expires_in", 7200))


class WeChatSender:
    """Sends announcements to WeChat followers (see the module docstring for the rules).

    Args:
        engine: the bot's database (subscribers' ``last_seen_at`` decides the window).
        tokens: the shared :class:`AccessTokens`.
        client: ``httpx.AsyncClient`` with the WeChat API base URL.
        template_id: WECHAT_TEMPLATE_ID, or None (then followers outside the 48-hour
            window are unreachable).
        clock: returns the current aware datetime.
    """

    channel = CHANNEL

    def __init__(self, engine: Engine, tokens: AccessTokens, client: httpx.AsyncClient, *,
                 template_id: str | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.engine, self.tokens, self.client = engine, tokens, client
        self.template_id, self._clock = template_id, clock

    @staticmethod
    def min_interval(chat_id: str) -> float:
        """WeChat sets no per-follower pace for these APIs (quotas per window instead)."""
        return 0.0

    def _last_seen(self, openid: str) -> datetime | None:
        with self.engine.connect() as conn:
            seen = conn.execute(sa.select(_s.c.last_seen_at).where(
                _s.c.channel == CHANNEL, _s.c.chat_id == openid)).scalar()
        return as_utc(seen) if seen is not None else None

    async def send(self, chat_id: str, text: str) -> None:
        """Send ``text`` to the follower ``chat_id`` (an OpenID).

        Raises:
            Blocked: the follower unsubscribed from the account (43004).
            Unreachable: outside the 48-hour window and no template configured (or the
                template refused with the same errors).
            RetryLater: the account's daily quota is used up (45009): an hour's pause.
            TransientError: WeChat busy (-1), unreachable, or the token could not be had.
            PermanentError: any other errcode, with WeChat's errmsg.
        """
        seen = await asyncio.to_thread(self._last_seen, chat_id)
        inside = seen is not None and as_utc(self._clock()) - seen < WINDOW
        try:
            if inside:
                try:
                    await self._call("message/custom/send", {
                        "touser": chat_id, "msgtype": "text", "text": {"content": text}})
                    return
                except WeChatApiError as exc:
                    if exc.errcode not in OUT_OF_WINDOW:
                        raise
            if not self.template_id:
                raise Unreachable("outside WeChat's 48-hour window, and no WECHAT_TEMPLATE_ID "
                                  "for a template message")
            await self._call("message/template/send", {
                "touser": chat_id, "template_id": self.template_id,
                "data": {"content": {"value": text}}})
        except WeChatApiError as exc:
            raise self._error(exc) from None

    @staticmethod
    def _error(exc: WeChatApiError) -> Exception:
        if exc.errcode == UNSUBSCRIBED:
            return Blocked(str(exc))
        if exc.errcode == BUSY:
            return TransientError(str(exc))
        if exc.errcode == QUOTA:
            return RetryLater(3600)
        if exc.errcode in OUT_OF_WINDOW:
            return Unreachable(str(exc))
        return PermanentError(str(exc))

    async def _call(self, path: str, body: dict) -> None:
        """POST ``body`` to ``path`` with the shared token; a refused token is renewed
        once. Raises WeChatApiError on a non-zero errcode, TransientError on network
        trouble."""
        token = await self.tokens.get()
        for attempt in (1, 2):
            try:
                response = await self.client.post(path, params={"access_token": token},
                                                  json=body)
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise TransientError(f"{path}: {type(exc).__name__}") from None
            code = int(data.get("errcode", 0) or 0)
            if code == 0:
                return
            if code in TOKEN_ERRORS and attempt == 1:
                token = await self.tokens.get(invalid=token)
                continue
            raise WeChatApiError(code, str(data.get("errmsg", "")))
