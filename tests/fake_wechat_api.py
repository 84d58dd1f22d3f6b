"""A fake of WeChat's Official Account API on loopback, for the announcement tests.

Endpoints (under ``/cgi-bin/``), answering like WeChat with ``{"errcode": N, "errmsg": ...}``:

* ``GET token?grant_type=client_credential&appid=&secret=``: a new access token; as on
  WeChat, fetching a new one invalidates the previous one (40001 for it afterwards).
* ``POST message/custom/send?access_token=``: a customer-service text message; 45015 for a
  follower outside the 48-hour window, 45047 when their quota is used up.
* ``POST message/template/send?access_token=``: a template message.

Both sends answer 43004 for a follower who unsubscribed, and -1 (system busy) as many times
as :meth:`FakeWeChatApi.busy` says. :meth:`expire` makes the current token expire (42001).
"""
from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789"


class FakeWeChatApi:
    """Start with ``await api.start()``; ``api.base_url`` is what WECHAT_API_BASE_URL takes."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.expired = False
        self.fetches = 0
        self.out_of_window: set[str] = set()
        self.quota_used: set[str] = set()
        self.unsubscribed: set[str] = set()
        self._busy: dict[str, int] = {}
        self.custom: list[tuple[str, str]] = []      # (openid, text) delivered
        self.templates: list[tuple[str, str, str]] = []   # (openid, template id, text)
        self.refused_tokens = 0
        self._counter = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom)
        app.router.add_post("/cgi-bin/message/template/send", self._template)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/cgi-bin/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def busy(self, openid: str, times: int = 1) -> None:
        """The next ``times`` sends to ``openid`` answer -1 (system busy)."""
        self._busy[openid] = times

    def expire(self) -> None:
        """The current token expires (42001 until a new one is fetched)."""
        self.expired = True

    @staticmethod
    def _error(code: int, message: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": message})

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != APP_ID:
            return self._error(40013, "invalid appid")
        if q.get("secret") != APP_SECRET:
            return self._error(40125, "invalid appsecret")
        self.fetches += 1
        self.token = f"TOKEN-{next(self._counter)}-{'x' * 20}"
        self.expired = False
        return web.json_response({"access_token": self.token, "expires_in": 7200})

    def _check(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        token = request.query.get("access_token")
        if token != self.token:
            self.refused_tokens += 1
            return self._error(40001, "invalid credential, access_token is invalid or not latest")
        if self.expired:
            self.refused_tokens += 1
            return self._error(42001, "access_token expired")
        openid = str(body.get("touser", ""))
        if self._busy.get(openid, 0) > 0:
            self._busy[openid] -= 1
            return self._error(-1, "system error")
        if openid in self.unsubscribed:
            return self._error(43004, "require subscribe")
        return None

    async def _custom(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._check(request, body)
        if refused is not None:
            return refused
        openid = body["touser"]
        if openid in self.out_of_window:
            return self._error(45015, "response out of time limit or subscription is canceled")
        if openid in self.quota_used:
            return self._error(45047, "out of response count limit")
        self.custom.append((openid, body["text"]["content"]))
        return self._error(0, "ok")

    async def _template(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = self._check(request, body)
        if refused is not None:
            return refused
        self.templates.append((body["touser"], body["template_id"],
                               body["data"]["content"]["value"]))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": next(self._counter)})
