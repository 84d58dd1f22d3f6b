"""Which of the four supported languages a message is written in.

Script decides Arabic and Chinese; French and English are told apart by their function
words (the vocabulary's stopwords, words only one of the two languages uses) and by
French accented letters. English is the default.
"""
from __future__ import annotations

from .normalize import is_han, tokenize

FRENCH_LETTERS = set("éèêëàâçîïôûùœ")


class LanguageDetector:
    """Detect "en", "fr", "ar" or "zh" from text.

    Args:
        stopwords: the vocabulary's stopwords per language (lists of words).
        markers: more words per language that tell French from English ("bonjour").
    """

    def __init__(self, stopwords: dict[str, list[str]],
                 markers: dict[str, list[str]] | None = None):
        markers = markers or {}
        en = {w for s in [*stopwords.get("en", []), *markers.get("en", [])] for w in tokenize(s)}
        fr = {w for s in [*stopwords.get("fr", []), *markers.get("fr", [])] for w in tokenize(s)}
        self.en_only = en - fr
        self.fr_only = fr - en

    def detect(self, text: str) -> str:
        """Return the language code of ``text``; "en" when nothing tells."""
        arabic = sum(1 for ch in text if "\u0600" <= ch <= "\u06ff")
        han = sum(1 for ch in text if is_han(ch))
        latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
        if arabic and arabic * 2 >= latin:  # an Arabic question may quote a Latin name
            return "ar"
        if han and han * 3 >= latin:
            return "zh"
        words = tokenize(text)
        fr = sum(w in self.fr_only for w in words) + 2 * any(c in FRENCH_LETTERS
                                                             for c in text.lower())
        en = sum(w in self.en_only for w in words)
        return "fr" if fr > en else "en"
