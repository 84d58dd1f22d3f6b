"""The web chat in a real browser: headless Chromium from the OS packages, driven by
Selenium through the OS's chromedriver (nothing downloaded). One browser for the module; the
chat is served by uvicorn on loopback, with a host page on another origin for the widget.
A screenshot of each step is saved in the module's output folder (printed with -rA)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from edits import edit
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot.channels.web.app import create_app
from bot.core.engine import Assistant
from bot.knowledge.loader import load_knowledge
from bot.service import AssistantService

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(f"browser tests need Chromium and its driver ({CHROMIUM}, {CHROMEDRIVER}): "
                "apt-get install chromium chromium-driver (.ci/run does)",
                allow_module_level=True)
os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1000,900", "--lang=en-US")
MARKUP = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
WAIT = 20  # seconds, for a loaded machine


class Served:
    """An ASGI app served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, app, sock: socket.socket | None = None):
        self.sock = sock or socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            self.thread.join(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """The folder of this module's screenshots."""
    return tmp_path_factory.mktemp("web-browser-screenshots")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(chat URL, host page URL): the chat on knowledge whose Cai Bin summary carries markup,
    and a page of another origin that embeds the widget (an allowed origin)."""
    folder = tmp_path_factory.mktemp("web-knowledge") / "knowledge"
    shutil.copytree(Path(__file__).resolve().parent.parent / "knowledge", folder)
    edit(folder / "programme.yaml", "Dr. Cai Bin shared", f"Dr. Cai Bin {MARKUP} shared")
    assistant = Assistant(load_knowledge(folder))
    host_sock = socket.create_server(("127.0.0.1", 0))  # its port is known before it serves
    host_origin = f"http://127.0.0.1:{host_sock.getsockname()[1]}"
    chat_app = create_app(AssistantService(assistant), allowed_origins=[host_origin])
    with Served(chat_app) as chat:
        async def host_page(request):
            return HTMLResponse('<!doctype html><html lang="fr"><head><title>Hôpital</title>'
                                '<link rel="icon" href="data:,">'
                                '</head><body><h1>Hôpital</h1>'
                                f'<script src="{chat.url}/widget.js" async></script>'
                                '</body></html>')
        with Served(Starlette(routes=[Route("/", host_page)]), host_sock) as host:
            yield chat.url, host.url


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"summit-chromium-{os.getpid()}"
    shutil.rmtree(profile, ignore_errors=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, site):
    """The chat page, opened afresh (no cookie: a new conversation), greeting shown."""
    chat, _ = site
    browser.get(chat + "/api/ui")  # the cookie's site, to clear it
    browser.delete_all_cookies()
    browser.get(chat + "/")
    ready(browser)
    return browser


def ready(driver) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def bot_messages(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#log li.msg.bot")


def ask(driver, text: str):
    """Type ``text`` and press Enter; return the new bot message element."""
    before = len(bot_messages(driver))
    box = driver.find_element(By.ID, "text")
    box.send_keys(text, Keys.ENTER)
    WebDriverWait(driver, WAIT).until(lambda d: len(bot_messages(d)) > before)
    return bot_messages(driver)[-1]


def snap(driver, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def no_csp_violations(driver) -> None:
    problems = [e["message"] for e in driver.get_log("browser")
                if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"]
    assert problems == []


def test_ask_click_a_choice_and_keep_the_conversation_across_a_reload(page, shots):
    assert "Summit Assistant" in bot_messages(page)[0].text  # the greeting
    assert page.find_element(By.ID, "disclaimer").text.endswith("not medical advice.")
    answer = ask(page, "who spoke about preeclampsia?")
    assert "Brini Jihane" in answer.text
    snap(page, shots, "1-asked")
    answer.find_element(By.CSS_SELECTOR, "button.choice").click()
    WebDriverWait(page, WAIT).until(lambda d: len(bot_messages(d)) == 3)
    picked = bot_messages(page)[-1]
    assert "Brini Jihane" in picked.text and "preeclampsia" in picked.text
    users = [m.text for m in page.find_elements(By.CSS_SELECTOR, "#log li.msg.user p")]
    assert users == ["who spoke about preeclampsia?", "Brini Jihane"]
    snap(page, shots, "2-choice")
    shown = [m.text for m in page.find_elements(By.CSS_SELECTOR, "#log li.msg")]
    page.refresh()
    ready(page)
    assert [m.text for m in page.find_elements(By.CSS_SELECTOR, "#log li.msg")] == shown
    snap(page, shots, "3-reloaded")
    no_csp_violations(page)


def test_arabic_switch_turns_the_page_right_to_left(page, shots):
    Select(page.find_element(By.ID, "lang")).select_by_value("ar")
    WebDriverWait(page, WAIT).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl")
    html = page.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "ar"
    assert page.find_element(By.ID, "send").text == "إرسال"
    assert "نصيحة طبية" in page.find_element(By.ID, "disclaimer").text
    answer = ask(page, "who is cai bin")  # the chosen language wins over detection
    assert answer.get_attribute("dir") == "rtl" and answer.get_attribute("lang") == "ar"
    # keyboard only: Tab from the input reaches the send button, then the choices
    page.find_element(By.ID, "text").send_keys(Keys.TAB)
    assert page.switch_to.active_element.get_attribute("id") == "send"
    choice = answer.find_elements(By.CSS_SELECTOR, "button.choice")[-1]
    page.execute_script("arguments[0].focus()", choice)
    choice.send_keys(Keys.ENTER)
    WebDriverWait(page, WAIT).until(lambda d: len(bot_messages(d)) == 3)
    assert bot_messages(page)[-1].get_attribute("dir") == "rtl"
    snap(page, shots, "4-arabic")
    page.refresh()
    ready(page)
    assert page.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"


def test_an_urgent_message_shows_the_emergency_numbers_first(page, shots):
    answer = ask(page, "my wife is bleeding heavily")
    assert "emergency" in answer.get_attribute("class")
    first = answer.find_element(By.CSS_SELECTOR, "p")
    links = [a.get_attribute("href") for a in first.find_elements(By.CSS_SELECTOR, "a")]
    assert links == ["tel:141", "tel:15", "tel:120"]
    assert answer.find_elements(By.CSS_SELECTOR, "a")[0].get_attribute("href") == "tel:141"
    snap(page, shots, "5-emergency")


def test_markup_in_answers_and_messages_is_shown_as_text(page, shots):
    typed = '<b>bold</b><img src=x onerror="window.pwned=3"> cai bin'
    answer = ask(page, typed)
    assert MARKUP in answer.text
    assert page.find_elements(By.CSS_SELECTOR, "#log img, #log script, #log b") == []
    assert page.find_elements(By.CSS_SELECTOR, "#log li.msg.user p")[-1].text == typed
    assert page.execute_script("return window.pwned === undefined")
    snap(page, shots, "6-markup-as-text")


def test_usable_on_a_360_pixel_wide_phone(page, shots):
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                         {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    try:
        ask(page, "who spoke about preeclampsia?")
        ask(page, "/sessions")  # a long answer
        sizes = page.execute_script(
            "const r = (id) => document.getElementById(id).getBoundingClientRect();"
            "return {width: innerWidth, scroll: document.documentElement.scrollWidth,"
            " send: r('send').right, input: r('text').width, sendBottom: r('send').bottom,"
            " height: innerHeight, page: document.documentElement.scrollHeight};")
        assert sizes["width"] == 360
        assert sizes["scroll"] <= 360  # nothing wider than the screen
        assert sizes["page"] <= sizes["height"]  # only the conversation scrolls
        assert sizes["send"] <= 360 and sizes["input"] >= 150
        assert sizes["sendBottom"] <= sizes["height"]  # the composer stays on screen
        snap(page, shots, "7-phone-360px")
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_widget_opens_a_chat_bubble_on_another_site(browser, site, shots):
    chat, host = site
    browser.get(host + "/")
    bubble = WebDriverWait(browser, WAIT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "button.summit-chat-bubble"))
    WebDriverWait(browser, WAIT).until(  # labelled in the host page's language
        lambda d: bubble.get_attribute("aria-label") == "Ouvrir la conversation avec Summit "
                                                        "Assistant")
    frame = browser.find_element(By.ID, "summit-chat-frame")
    assert not frame.is_displayed()
    bubble.click()
    assert frame.is_displayed() and bubble.get_attribute("aria-expanded") == "true"
    browser.switch_to.frame(frame)
    try:
        ready(browser)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        answer = ask(browser, "qui a parlé de la prééclampsie ?")
        assert "Brini Jihane" in answer.text
        browser.find_element(By.ID, "text").send_keys(Keys.ESCAPE)  # closes the widget
    finally:
        browser.switch_to.default_content()
    WebDriverWait(browser, WAIT).until(lambda d: not frame.is_displayed())
    assert bubble.get_attribute("aria-expanded") == "false"
    bubble.click()
    snap(browser, shots, "8-widget")
    no_csp_violations(browser)
