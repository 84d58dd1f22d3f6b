"""The web chat's HTTP side: page and assets, the JSON API over the service, and what keeps
it safe on the open web (CSP, CORS, cookie flags, 413, 429, logs). Starlette's TestClient
speaks HTTP to the app in-process; one test runs ``forumbot web`` as a process."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from edits import edit
from starlette.testclient import TestClient

from bot.channels.web.app import COOKIE, MAX_BODY, MAX_TEXT, STATIC, create_app
from bot.channels.web.ratelimit import RateLimits
from bot.cli import main
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.i18n import SUPPORTED
from bot.knowledge.loader import load_knowledge
from bot.service import AssistantService
from bot.storage import Storage

HOSPITAL = "https://www.hospital.example"
SCRIPT = Path(sys.executable).parent / "forumbot"


def make_app(assistant: Assistant, **options):
    return create_app(AssistantService(assistant), **options)


@pytest.fixture
def client(assistant):
    with TestClient(make_app(assistant, allowed_origins=[HOSPITAL])) as c:
        yield c


def say(client: TestClient, text: str, **headers) -> dict:
    response = client.post("/api/messages", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["reply"]


# -- page and assets ----------------------------------------------------------------------
class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside <script>/<style>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._open and data.strip():
            self.inline.append(self._open)

    def handle_endtag(self, tag):
        self._open = None


def test_the_page_loads_only_its_own_files_under_a_csp_without_inline_code(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in policy
    assert directives["frame-ancestors"] == f"'self' {HOSPITAL}"
    assert response.headers["x-content-type-options"] == "nosniff"
    page = Tags()
    page.feed(response.text)
    assert page.inline == []  # no inline script or style
    for tag, attrs in page.tags:
        assert "style" not in attrs and not any(a.startswith("on") for a in attrs), tag
        for link in (attrs.get("src"), attrs.get("href")):
            if link:  # only files of this app, by relative URL: no CDN
                assert "//" not in link and client.get("/" + link).status_code == 200, link
    assert {("html", "lang"), ("html", "dir")} <= {(t, a) for t, attrs in page.tags
                                                   for a in attrs}
    log = next(attrs for tag, attrs in page.tags if attrs.get("id") == "log")
    assert log["role"] == "log" and log["aria-live"] == "polite"
    assert {attrs.get("value") for tag, attrs in page.tags if tag == "option"} == set(SUPPORTED)


def test_scripts_never_parse_text_as_html():
    for script in ("chat.js", "widget.js"):
        code = (STATIC / script).read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function", "setAttribute(\"style\""):
            assert sink not in code, (script, sink)
        assert "textContent" in code or script == "widget.js"


def test_widget_script_is_served_for_other_sites(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "summit-chat-bubble" in response.text
    assert client.get("/static/widget.css").status_code == 200


# -- answers ------------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["who spoke about preeclampsia?", "qui est cai bin",
                                      "أبحث عن طبيب تخدير", "谁讲了产后出血？", "/sessions",
                                      "hello", "how do I reset my router"])
def test_answers_carry_the_same_content_as_the_core(client, assistant, question):
    reply = say(client, question)
    core = assistant.reply(Message(question))
    assert (reply["intent"], reply["text"], reply["lang"]) == (core.intent, core.text, core.lang)
    assert reply["choices"] == [{"id": c.id, "label": c.label} for c in core.choices]
    assert reply["dir"] == ("rtl" if core.lang == "ar" else "ltr")
    # the lines, joined, are the text: nothing added, nothing lost
    assert "\n".join("".join(s["text"] for s in line) for line in reply["lines"]) == core.text


@pytest.mark.parametrize("urgent", ["my wife is bleeding heavily", "ma femme saigne beaucoup",
                                    "زوجتي تنزف بغزارة", "我老婆大出血"])
def test_emergency_numbers_come_first_as_tel_links(client, urgent):
    reply = say(client, urgent)
    assert reply["intent"] == "emergency"
    first = reply["lines"][0]
    assert [s["tel"] for s in first if "tel" in s] == ["141", "15", "120"]
    assert all(s["text"] == s["tel"] for s in first if "tel" in s)


def test_figures_outside_the_emergency_phrase_are_never_links(client):
    for question in ("/sessions", "/speakers", "who is cai bin", "who spoke about preeclampsia"):
        reply = say(client, question)
        assert any(ch.isdigit() for ch in reply["text"]) or question != "/sessions"
        assert not any("tel" in s for line in reply["lines"] for s in line), question


def test_markup_in_knowledge_and_messages_comes_back_verbatim_as_json_text(knowledge_copy):
    markup = '<img src=x onerror="alert(1)"><script>alert(2)</script> &amp;'
    edit(knowledge_copy / "programme.yaml", "Dr. Cai Bin shared", f"Dr. Cai Bin {markup} shared")
    assistant = Assistant(load_knowledge(knowledge_copy))
    with TestClient(make_app(assistant)) as client:
        response = client.post("/api/messages", json={"text": "who is cai bin <script>x</script>"})
        assert response.headers["content-type"] == "application/json"
        reply = response.json()["reply"]
        assert markup in reply["text"]
        assert markup in "".join(s["text"] for line in reply["lines"] for s in line)
        shown = client.get("/api/conversation").json()["messages"]
    assert shown[0] == {"role": "user", "text": "who is cai bin <script>x</script>"}


# -- conversation -------------------------------------------------------------------------
def test_the_conversation_is_kept_for_its_cookie_only(client, assistant):
    greeting = client.post("/api/start", json={"lang": "fr"}).json()["reply"]
    assert greeting["intent"] == "greeting" and greeting["lang"] == "fr"
    answer = say(client, "who spoke about preeclampsia?")
    choice = answer["choices"][0]
    picked = client.post("/api/choices", json={"id": choice["id"]}).json()["reply"]
    assert picked["text"] == assistant.choose(choice["id"], "en").text
    assert "Brini Jihane" in picked["text"]
    history = client.get("/api/conversation").json()["messages"]
    assert [e["role"] for e in history] == ["bot", "user", "bot", "user", "bot"]
    assert history[1]["text"] == "who spoke about preeclampsia?"
    assert history[3]["text"] == choice["label"]  # the label the user clicked
    assert [e["reply"]["text"] for e in history if e["role"] == "bot"] == \
        [greeting["text"], answer["text"], picked["text"]]
    other = TestClient(client.app)  # another browser: no cookie, nothing shown
    assert other.get("/api/conversation").json() == {"lang": None, "messages": []}


def test_a_forged_choice_gets_the_expired_reply_and_shows_no_user_label(client):
    reply = client.post("/api/choices", json={"id": "person:nobody-at-all"}).json()["reply"]
    assert reply["intent"] == "fallback" and "expired" in reply["text"]
    assert [e["role"] for e in client.get("/api/conversation").json()["messages"]] == ["bot"]
    for bad in ({"id": "x" * 65}, {"id": "é"}, {"id": ""}, {"id": 5}, {}):
        assert client.post("/api/choices", json=bad).status_code == 400, bad


def test_web_questions_are_counted_in_the_question_log(assistant, tmp_path):
    storage = Storage.open(f"sqlite:///{tmp_path}/web.sqlite3")
    try:
        with TestClient(create_app(AssistantService(assistant, storage))) as client:
            client.post("/api/start", json={})  # the greeting is not a question
            say(client, "who spoke about preeclampsia?")
            say(client, "how do I reset my router")
            client.post("/api/choices", json={"id": "list:sessions"})  # a button, not typed
        today = datetime.now(UTC).date()
        stats = storage.questions.stats(today, today)
        assert stats.total == 2 and stats.by_intent == {"fallback": 1, "session": 1}
        assert [q.question for q in storage.questions.unanswered()] == ["how do i reset my router"]
    finally:
        storage.close()


def test_forget_deletes_the_language_and_the_shown_conversation(client):
    client.post("/api/language", json={"lang": "fr"})
    say(client, "who is cai bin")
    before = client.cookies[COOKIE]
    gone = say(client, "/forget")
    assert gone["intent"] == "command"
    after = client.get("/api/conversation").json()
    assert after["lang"] is None
    assert [e["reply"]["text"] for e in after["messages"]] == [gone["text"]]
    # a fresh id: whoever held the old one reads nothing written afterwards
    assert client.cookies[COOKIE] != before
    say(client, "who is li jinbao")
    old = TestClient(client.app, cookies={COOKIE: before}).get("/api/conversation").json()
    assert old["messages"] == []


def test_a_language_chosen_by_message_switches_the_page_too(client):
    response = client.post("/api/messages", json={"text": "/language ar"}).json()
    assert response["ui"]["lang"] == "ar" and response["ui"]["dir"] == "rtl"
    assert "ui" not in client.post("/api/messages", json={"text": "who is cai bin"}).json()
    assert client.get("/api/conversation").json()["lang"] == "ar"


def test_subscriptions_are_pointed_to_telegram_and_wechat(client):
    for command in ("/subscribe", "/UNSUBSCRIBE", " /subscribe@SummitBot now"):
        reply = say(client, command)
        assert "Telegram" in reply["text"] and "WeChat" in reply["text"], command
    client.post("/api/language", json={"lang": "fr"})
    assert "Les annonces sont envoyées" in say(client, "/subscribe")["text"]


def test_the_language_switch_sets_replies_and_interface(client):
    ui = client.post("/api/language", json={"lang": "ar"}).json()
    assert ui["lang"] == "ar" and ui["dir"] == "rtl"
    assert ui["strings"]["send"] == "إرسال"
    reply = say(client, "who is cai bin")
    assert reply["lang"] == "ar" and reply["dir"] == "rtl"
    assert client.get("/api/conversation").json()["lang"] == "ar"
    assert client.post("/api/language", json={"lang": "de"}).status_code == 400


def test_interface_strings_exist_in_every_language(client):
    english = client.get("/api/ui?lang=en").json()
    for lang in SUPPORTED:
        ui = client.get(f"/api/ui?lang={lang}").json()
        assert ui["dir"] == ("rtl" if lang == "ar" else "ltr")
        assert all(ui["strings"].values()) and ui["strings"].keys() == english["strings"].keys()
        if lang != "en":
            assert ui["strings"]["disclaimer"] != english["strings"]["disclaimer"]
        assert [n["tel"] for n in ui["numbers"]] == ["141", "15", "120"]
    assert "not medical advice" in english["strings"]["disclaimer"]
    assert client.get("/api/ui?lang=xx").json()["lang"] == "en"


# -- safety on the open web ---------------------------------------------------------------
def test_cookie_is_httponly_lax_and_secure_only_over_https(assistant):
    app = make_app(assistant)
    plain = TestClient(app).post("/api/messages", json={"text": "hello"})
    cookie = plain.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/" in cookie and "secure" not in cookie
    https = TestClient(app, base_url="https://chat.example")
    assert "secure" in https.post("/api/messages",
                                  json={"text": "hi"}).headers["set-cookie"].lower()
    # X-Forwarded-Proto counts only from a trusted proxy
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    untrusted = TestClient(app).post("/api/messages", json={"text": "hi"}, headers=forwarded)
    assert "secure" not in untrusted.headers["set-cookie"].lower()
    trusted = TestClient(make_app(assistant, trusted_proxies=["*"]))
    assert "secure" in trusted.post("/api/messages", json={"text": "hi"},
                                    headers=forwarded).headers["set-cookie"].lower()


def test_conversation_ids_are_random_and_foreign_ids_are_replaced(assistant):
    app = make_app(assistant)
    ids = {TestClient(app).post("/api/start", json={}).cookies[COOKIE] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) >= 32 for i in ids)
    forged = TestClient(app, cookies={COOKIE: "admin"})
    assert forged.post("/api/start", json={}).cookies[COOKIE] != "admin"


def test_a_planted_conversation_id_is_not_adopted(assistant):
    # another subdomain of the site can set the cookie: a chosen, well-shaped id must not
    # become the victim's conversation, or the planter could read its transcript back
    app = make_app(assistant)
    planted = "0" * 32
    victim = TestClient(app, cookies={COOKIE: planted})
    response = victim.post("/api/messages", json={"text": "I am pregnant, my name is Samira"})
    issued = response.cookies[COOKIE]
    assert not issued.startswith(planted)
    attacker = TestClient(app, cookies={COOKIE: planted})
    assert attacker.get("/api/conversation").json()["messages"] == []
    # the issued, signed cookie is the victim's conversation
    assert TestClient(app, cookies={COOKIE: issued}).get(
        "/api/conversation").json()["messages"]


def test_instances_with_one_cookie_secret_read_each_others_cookies(assistant):
    first = TestClient(create_app(AssistantService(assistant), cookie_secret="s3cret-key-of-at-least-32-characters"))
    first.post("/api/start", json={})
    issued = first.cookies[COOKIE]
    second = create_app(AssistantService(assistant), cookie_secret="s3cret-key-of-at-least-32-characters")
    other = create_app(AssistantService(assistant), cookie_secret="another-key-of-at-least-32-characters")
    assert TestClient(second, cookies={COOKIE: issued}).post(
        "/api/start", json={}).cookies[COOKIE] == issued
    assert TestClient(other, cookies={COOKIE: issued}).post(
        "/api/start", json={}).cookies[COOKIE] != issued


def test_too_long_messages_and_bodies_are_refused_with_413(client):
    assert client.post("/api/messages", json={"text": "a" * MAX_TEXT}).status_code == 200
    too_long = client.post("/api/messages", json={"text": "a" * (MAX_TEXT + 1)})
    assert too_long.status_code == 413 and too_long.json()["error"] == "too_long"
    emoji = client.post("/api/messages", json={"text": "😀" * (MAX_TEXT + 1)})
    assert emoji.status_code == 413  # escaped in JSON: over the body cap too
    padded = client.post("/api/messages", json={"text": "hi", "pad": "x" * MAX_BODY})
    assert padded.status_code == 413


def test_malformed_requests_get_clear_errors(client):
    assert client.post("/api/messages", content=b"text=hi",
                       headers={"content-type": "application/x-www-form-urlencoded"}
                       ).status_code == 415
    for body in (b"{", b"[1]", b'"hi"', b"\xff\xfe"):
        response = client.post("/api/messages", content=body,
                               headers={"content-type": "application/json"})
        assert response.status_code == 400 and "error" in response.json(), body
    for data in ({"text": 5}, {"text": None}, {"text": "   "}, {}):
        assert client.post("/api/messages", json=data).status_code == 400, data
    # a lone surrogate is not UTF-8: answered, not a crash
    odd = client.post("/api/messages", content=b'{"text": "hi \\ud800 cai bin"}',
                      headers={"content-type": "application/json"})
    assert odd.status_code == 200 and "Cai Bin" in odd.json()["reply"]["text"]
    assert client.get("/api/messages").status_code == 405


def test_rate_limits_per_conversation_and_per_address_answer_429(assistant):
    app = make_app(assistant, limits=RateLimits("5/minute", "2/minute"))
    chat = TestClient(app)
    assert [chat.post("/api/messages", json={"text": "hi"}).status_code
            for _ in range(3)] == [200, 200, 429]
    refused = chat.post("/api/choices", json={"id": "help"})
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # new conversations from the same address: 5 messages a minute in all
    others = [TestClient(app).post("/api/messages", json={"text": "hi"}).status_code
              for _ in range(4)]
    assert others == [200, 200, 200, 429]


def test_cors_and_framing_allow_only_the_configured_origins(client):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    ok = client.options("/api/messages", headers={"Origin": HOSPITAL, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == HOSPITAL
    assert ok.headers["access-control-allow-credentials"] == "true"
    evil = client.options("/api/messages", headers={"Origin": "https://evil.example",
                                                    **preflight})
    assert "access-control-allow-origin" not in evil.headers
    simple = client.post("/api/messages", json={"text": "hi"},
                         headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    api = client.get("/api/ui")
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    assert api.headers["cache-control"] == "no-store"


def test_logs_never_contain_the_users_words_or_ids(client, caplog):
    caplog.set_level(logging.DEBUG)
    secret_words = "zanzibar-umbrella who is cai bin"
    reply = say(client, secret_words)
    client.post("/api/messages", json={"text": "x" * (MAX_TEXT + 1)})
    conversation = client.cookies[COOKIE]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "web message answered: intent=speaker" in text and reply["intent"] == "speaker"
    assert "refused with 413" in text
    assert "zanzibar" not in text and conversation not in text and "testclient" not in text


# -- the command --------------------------------------------------------------------------
def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEB_", "PORT", "WEBHOOK_", "LOG_LEVEL"))}
    return {**env, **extra}


def test_forumbot_web_serves_the_chat_and_stops_on_sigterm(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([SCRIPT, "web"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path,
                            env=_clean_env(PORT=str(port), WEBHOOK_LISTEN="127.0.0.1",
                                           LOG_LEVEL="INFO"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as web:
                    page = web.get("/")
                    reply = web.post("/api/messages", json={"text": "Who is Cai Bin?"})
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        assert page.status_code == 200 and 'id="log"' in page.text
        assert "Cai Bin" in reply.json()["reply"]["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "web chat on 127.0.0.1:" in err and "Cai Bin" not in err


@pytest.mark.parametrize("name,value", [("WEB_ALLOWED_ORIGINS", "https://a.example/path"),
                                        ("WEB_ALLOWED_ORIGINS", "hospital.example"),
                                        ("WEB_RATE_LIMIT_IP", "60 per fortnight"),
                                        ("WEB_TRUSTED_PROXIES", "not-an-address")])
def test_bad_web_settings_stop_start_up_with_one_line(tmp_path, monkeypatch, capsys, name,
                                                       value):
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv(name, value)
    assert main(["web"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and value not in lines[0], lines


def test_no_redirect_echoes_the_host_header(client):
    for path in ("/api/messages/", "/static"):
        response = client.post(path, headers={"host": "evil.example"}, follow_redirects=False)
        assert "location" not in response.headers and response.status_code in (404, 405)


def test_two_conversation_cookies_are_both_ignored(assistant):
    # a second cookie set for a parent domain by someone else must not pin the visitor
    app = make_app(assistant)
    attacker = TestClient(app).post("/api/start", json={}).cookies[COOKIE]
    victim = TestClient(app).post("/api/start", json={}).cookies[COOKIE]
    both = TestClient(app).post("/api/messages", json={"text": "my name is Samira"},
                                headers={"cookie": f"{COOKIE}={victim}; {COOKIE}={attacker}"})
    issued = both.cookies[COOKIE]
    assert issued not in (victim, attacker)
    shown = TestClient(app, cookies={COOKIE: attacker}).get("/api/conversation").json()
    assert "Samira" not in str(shown["messages"])


def test_a_short_cookie_secret_stops_start_up_with_one_line(forumbot_here, monkeypatch):
    monkeypatch.setenv("WEB_COOKIE_SECRET", "short12345")
    proc = forumbot_here("web")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "WEB_COOKIE_SECRET" in proc.stderr
    assert "short12345" not in proc.stderr
