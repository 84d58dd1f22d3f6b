"""Text normalisation and tokenisation, applied the same way to messages and knowledge.

Rules (all languages at once, no language guess needed):
- invisible format characters (Unicode category Cf: zero-width space and joiners U+200B-D,
  word joiner U+2060, soft hyphen U+00AD, BOM U+FEFF, bidi marks...) are removed, so
  "blee\u200bding" is "bleeding" and an Arabic word with a ZWNJ stays one word;
- Unicode NFKC (full-width forms, ligatures), then case folding;
- traditional Chinese becomes simplified (OpenCC "t2s", with phrases: 產後出血 -> 产后出血),
  so knowledge written in one script answers messages in the other;
- accents and every combining mark removed, which also strips Arabic harakat and turns
  hamza-carrying letters into their bare form (أ إ آ -> ا, ؤ -> و, ئ -> ي);
- Arabic ة -> ه, ى -> ي, tatweel removed, Arabic-Indic digits -> 0-9;
- English possessive 's and French elisions (l', d', qu', j') dropped, other apostrophes
  removed ("can't" -> "cant"), all other punctuation and symbols become spaces;
- Chinese, Japanese and Korean ideographs become one unit per character, so Chinese is
  matched without relying on spaces; other text is split on whitespace;
- the Arabic definite article and its prefixed forms (ال, وال, بال, لل ...) are removed.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_ARABIC_MAP = str.maketrans({"ة": "ه", "ى": "ي", "ـ": None, "ٱ": "ا",
                             **{chr(0x0660 + i): str(i) for i in range(10)},
                             **{chr(0x06F0 + i): str(i) for i in range(10)}})
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
_ELISION = re.compile(r"\b(?:l|d|qu|j|c|n|s|m|t)['’](?=\w)")
_APOSTROPHE = re.compile(r"['’`´]")
_AR_PREFIX = re.compile(r"^(?:وال|بال|فال|كال|لل|ال)(?=..)")
_NOT_ASCII_WORD = re.compile(r"[^a-z0-9]+")
# Every Cf (format) character of Unicode 14 (Python 3.11's unicodedata); a test checks this
# class against unicodedata, so a newer Python with new Cf characters fails loudly.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # OpenCC takes UTF-8: lone surrogates cannot pass
HAN_CHARS = re.compile(  # the characters is_han() accepts
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")


def is_han(ch: str) -> bool:
    """Return True when ``ch`` (one character) is a CJK ideograph."""
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0xF900 <= code <= 0xFAFF)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    """The OpenCC traditional-to-simplified converter, loaded once (about 20 ms)."""
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Return ``text`` with traditional Chinese converted to simplified (OpenCC "t2s", with
    phrases); text without Han characters is returned as is, without calling OpenCC.

    A few characters convert in two steps (薴 -> 苧 -> 苎): conversion repeats until stable
    (at most three rounds), so normalising twice gives the same text. Lone surrogates
    (invalid text that JSON can carry) become spaces, as :func:`normalize` makes them anyway.
    """
    if not HAN_CHARS.search(text):
        return text
    text = _SURROGATE.sub(" ", text)
    convert = _t2s().convert
    for _ in range(3):
        out = convert(text)
        if out == text:
            break
        text = out
    return text


def normalize(text: str) -> str:
    """Return ``text`` folded for matching: a str of space-separated words, Han kept as is.

    Never raises; any str (empty, huge, control characters) gives a str.
    """
    if text.isascii():  # fast path, same result: every ASCII non-alphanumeric is P, S, Z or C
        text = text.lower()
        if "'" in text or "`" in text:  # the three patterns need an ASCII apostrophe or `
            text = _APOSTROPHE.sub("", _ELISION.sub("", _POSSESSIVE.sub("", text)))
        return " ".join(_NOT_ASCII_WORD.sub(" ", text).split())
    text = simplified(unicodedata.normalize("NFKC", _FORMAT.sub("", text)).casefold())
    text = _POSSESSIVE.sub("", text)
    text = _ELISION.sub("", text)
    text = _APOSTROPHE.sub("", text)
    text = unicodedata.normalize("NFKD", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat.startswith("M"):
            continue
        if cat[0] in "PSZC":
            out.append(" ")
        else:
            out.append(ch)
    text = "".join(out).translate(_ARABIC_MAP)
    return " ".join(text.split())


def _is_arabic(word: str) -> bool:
    return "\u0600" <= word[0] <= "\u06ff"


def units(text: str) -> list[str]:
    """Split normalised text into matching units: words, and one unit per Han character.

    Args:
        text: output of :func:`normalize`.
    Returns:
        list of str units in message order; Arabic words lose the definite article.
    """
    if text.isascii():
        return text.split()
    result: list[str] = []
    for word in text.split():
        if not any(is_han(ch) for ch in word):
            result.append(_AR_PREFIX.sub("", word) if _is_arabic(word) else word)
            continue
        buf = ""
        for ch in word:
            if is_han(ch):
                if buf:
                    result.append(buf)
                    buf = ""
                result.append(ch)
            else:
                buf += ch
        if buf:
            result.append(buf)
    return result


def tokenize(text: str) -> list[str]:
    """Return ``units(normalize(text))``: the one entry point both sides of a match use."""
    return units(normalize(text))
