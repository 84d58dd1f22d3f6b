"""Interface strings in English, French, Arabic and Chinese, from gettext catalogs.

The catalogs are ``bot/i18n/locales/<lang>/LC_MESSAGES/messages.po``, managed with Babel
(see README: extract, update; the .po files are compiled in memory when first used, so no
compiled .mo file can go stale). English is the source language. The current language is
a context variable: :func:`language` sets it around the building of one reply, and
:func:`_` translates into it; knowledge text picks its language with :func:`localized`.
"""
from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = Path(__file__).resolve().parent / "locales"
SUPPORTED: tuple[str, ...] = ("en", "fr", "ar", "zh")
DEFAULT = "en"

_current: ContextVar[str] = ContextVar("summit_language", default=DEFAULT)


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """Return the gettext translations of ``lang`` (compiled from its .po in memory);
    English, or a language without a catalog, gives the source strings."""
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def current() -> str:
    """Return the language replies are being written in ("en", "fr", "ar" or "zh")."""
    return _current.get()


def _(message: str) -> str:
    """Translate an interface string into the current language."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """Translate a string that states a count into the current language, in the plural
    form the count takes there (the ``Plural-Forms`` of the catalog, from Babel's CLDR
    rules: Arabic has six forms, zero, one, two, few (3-10), many (11-99) and other;
    French uses the singular for 0 and 1; Chinese has one form).

    Args:
        singular, plural: the English forms (``{count}`` is filled in by the caller with
            ``.format``; a translated form may leave the number out, like the Arabic dual).
        count: the number (a non-negative int).
    Returns:
        the form to ``.format(count=...)``.
    """
    return translations(_current.get()).ngettext(singular, plural, count)


@contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Write replies in ``lang`` inside the block (unsupported or None: English)."""
    chosen = lang if lang in SUPPORTED else DEFAULT
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def number(value: int) -> str:
    """Return a whole number written the way the current language groups digits
    ("12,000" in English and Chinese, "12 000" with a narrow no-break space in French;
    Arabic keeps the Western digits used in Morocco: "12,000"), by Babel's CLDR data."""
    return format_decimal(value, locale=_current.get())


class Translations(Protocol):
    """Text in several languages: a {"en": ..., "fr": ...} dict or a knowledge LocalizedMap."""

    def get(self, lang: str, /) -> str | None: ...
    def __getitem__(self, lang: str, /) -> str: ...


def localized(value: str | Translations) -> str:
    """Return knowledge text in the current language: ``value`` is plain text (English) or
    a mapping {"en": ..., "fr": ...}; a language missing from it falls back to English."""
    if isinstance(value, str):
        return value
    return value.get(_current.get()) or value[DEFAULT]


_LTR_RUN = re.compile(r"/?[A-Za-z0-9](?:[A-Za-z0-9 .,:'/+\-]*[A-Za-z0-9])?")


def isolate_ltr(text: str) -> str:
    """Wrap each run of Latin letters and digits in Unicode first-strong isolates
    (U+2068 ... U+2069), so that in right-to-left Arabic text a Latin name or a phone
    number keeps its own order and the punctuation around it stays in place."""
    return _LTR_RUN.sub(lambda m: "\u2068" + m.group(0) + "\u2069", text)
