"""The web chat's interface wording, from the project's gettext catalogs.

The page asks ``GET /api/ui?lang=xx`` for these strings and shows them with textContent;
"{seconds}" and "{limit}" are filled in by the page.
"""
from __future__ import annotations

from bot.i18n import _, language, localized
from bot.knowledge.models import Knowledge

from .format import dialable, direction

PRODUCT = "Summit Assistant"   # a name, the same in every language


def ui_strings() -> dict[str, str]:
    """Return the interface strings in the current language (see :func:`bot.i18n.language`)."""
    return {
        "title": PRODUCT,
        "subtitle": _("Forum sessions, speakers and Find a Doctor"),
        "disclaimer": _("Information about the forum and its doctors, not medical advice."),
        "emergency": _("Emergency:"),
        "language": _("Language"),
        "log": _("Conversation"),
        "you": _("You said:"),
        "bot": _("Assistant:"),
        "options": _("Options"),
        "input": _("Your question"),
        "placeholder": _("Ask about a session, a speaker or a doctor"),
        "send": _("Send"),
        "too_long": _("Your message is too long: please keep it under {limit} characters."),
        "too_many": _("Too many messages: please wait {seconds} seconds and try again."),
        "error": _("Sorry, something went wrong. Please try again."),
        "offline": _("The assistant cannot be reached. Check your connection and try again."),
        "open": _("Open the chat with Summit Assistant"),
        "close": _("Close the chat"),
    }


def no_subscriptions() -> str:
    """The answer to /subscribe and /unsubscribe in the web chat, in the current language:
    announcements go out on Telegram and WeChat, where a subscriber can be reached."""
    return _("Announcements are sent on Telegram and WeChat: send /subscribe to the "
             "forum's bot there to receive them.")


def ui(lang: str, knowledge: Knowledge) -> dict[str, object]:
    """Return the ``/api/ui`` object for ``lang`` (unsupported: English).

    Keys: lang, dir, strings (see :func:`ui_strings`), numbers [{tel, text, label}]: the
    emergency numbers of knowledge/emergency.yaml, with "country: number (service)" labels
    in that language, for the line under the disclaimer. (The language switch's four
    options are in static/index.html, each language named in itself.)
    """
    with language(lang) as chosen:
        return {
            "lang": chosen,
            "dir": direction(chosen),
            "strings": ui_strings(),
            "numbers": [{"tel": dialable(n.number), "text": n.number,
                         "label": f"{localized(n.country)}: {n.number} "
                                  f"({localized(n.service)})"}
                        for n in knowledge.emergency.numbers],
        }
