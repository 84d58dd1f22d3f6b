"""Which of the four supported languages a message is written in: the reply's language.

The language of a message is the language of its sentence, not of a name quoted in it:
"who is الحمزاوي" is English and "من هو Cai Bin" is Arabic. Rules, in order:

1. A message in one script: Arabic script (including the presentation forms U+FB50-U+FDFF
   and U+FE70-U+FEFF that some keyboards and PDF copies produce) is Arabic, Han is Chinese.
   Latin letters are French or English by their function words (the vocabulary's stopwords
   and markers that only one of the two languages uses), French accented letters and
   elisions ("l'article"), or
   Moroccan Darija (Arabizi) by its words ("chkoun", "wach", "dyal", the vocabulary's
   Latin-letter Arabic stopwords and markers) and by digits written inside words for
   Arabic sounds ("3la", "l7aml", "mo2tamar"). Darija is answered in Arabic (README:
   Languages says why).
2. A message mixing scripts: the side whose function words ("who", "qui", "من", "谁")
   outnumber the other's is the sentence; the rest is a quoted name or term.
3. Without function words on either side, the Latin words are a name or a term quoted in
   an Arabic or Chinese message ("Xu Xianming 主任"). With as many on both sides, the
   script with more letters wins (Arabic needs half, Chinese a third, as many letters as
   the Latin words: a Han character says more than a letter).

English is the default when nothing tells.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping

from bot.knowledge.models import Lang

from .normalize import HAN_CHARS, tokenize

FRENCH_LETTERS = set("éèêëàâçîïôûùœ")
ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF),
                 (0xFE70, 0xFEFF))
# Arabizi: a digit standing for an Arabic sound (2 hamza, 3 ain, 5 kha, 7 ha, 8 ghain,
# 9 qaf) inside a word ("l7aml", "mo2tamar") or before at least two letters ("3la",
# "7amla"); ordinals ("3rd", "5th", "2eme") are not Arabizi.
_ARABIZI = re.compile(r"^(?:[a-z]*[a-z][235789]+[a-z][a-z0-9]*|[235789][a-z]{2,}[a-z0-9]*)$")
# French elided articles and pronouns: "l'article", "d'ouverture", "qu'a", "j'ai"
_ELISION = re.compile(r"(?<![\w'’])(?:l|d|qu|j|n|c|s|m|t)['’](?=[a-zàâçéèêëîïôûùœ])")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th|e|er|re|eme|ieme|em)$")
_ARABIC_CHARS = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}"
                                           for low, high in ARABIC_BLOCKS) + "]")


def is_arabic(ch: str) -> bool:
    """Return True when ``ch`` (one character) is an Arabic letter or sign, presentation
    forms included."""
    code = ord(ch)
    return any(low <= code <= high for low, high in ARABIC_BLOCKS)


def is_arabizi(word: str) -> bool:
    """Return True when a normalised Latin ``word`` writes an Arabic sound with a digit
    ("3la", "l7aml", "mo2tamar"), as Moroccan Darija is typed in Latin letters."""
    return bool(_ARABIZI.match(word)) and not _ORDINAL.match(word)


class LanguageDetector:
    """Detect "en", "fr", "ar" or "zh" from a message (see the module's rules).

    Args:
        stopwords: the vocabulary's stopwords per language (lists of words; the Latin-letter
            words under "ar" are Darija).
        markers: more words per language that tell a language ("bonjour" is French,
            "chkoun" is Darija, so Arabic).
        name_words: the words (normalised) of the people's names and aliases; they never
            count as Darija.
    """

    def __init__(self, stopwords: Mapping[Lang, list[str]],
                 markers: Mapping[Lang, list[str]] | None = None,
                 name_words: Collection[str] = frozenset()):
        markers = markers or {}

        def words(lang: Lang) -> set[str]:
            return {w for s in [*stopwords.get(lang, []), *markers.get(lang, [])]
                    for w in tokenize(s)}

        en, fr, ar = words("en"), words("fr"), words("ar")
        self.en_only = en - fr
        self.fr_only = fr - en
        # a word of a person's name is no Darija marker: "li" is Darija's "who", and the
        # surname of Li Jinbao ("and Li Jinbao?" is English)
        self.darija = {w for w in ar if w.isascii() and w not in name_words} - en - fr
        self.ar_function = {w for w in ar if not w.isascii()}
        self.zh_function = {"".join(tokenize(s)) for s in
                            [*stopwords.get("zh", []), *markers.get("zh", [])]} - {""}
        # Chinese typed as pinyin without characters ("cai bin shi shui"): the Latin-letter
        # words under "zh" that no other language uses, and no name uses
        self.pinyin = ({w for w in words("zh") if w.isascii()} - en - fr - ar
                       - set(name_words))

    def detect(self, text: str) -> str:
        """Return the language code of ``text`` ("en", "fr", "ar" or "zh"); "en" when
        nothing tells. Never raises."""
        if text.isascii():  # Latin letters only: no script to weigh
            return self._latin(tokenize(text), text.lower())[0]
        text = unicodedata.normalize("NFKC", text)  # presentation forms -> Arabic letters
        arabic = len(_ARABIC_CHARS.findall(text))
        han = len(HAN_CHARS.findall(text))
        latin = sum(1 for ch in text if ch.isalpha() and ch.isascii() or ch in FRENCH_LETTERS)
        units = tokenize(text)
        latin_lang, latin_score = self._latin([w for w in units if w.isascii()], text.lower())
        if not arabic and not han:
            return latin_lang
        if arabic >= han:
            other, other_score = "ar", sum(w in self.ar_function for w in units)
        else:
            joined = "".join(u for u in units if not u.isascii())
            other, other_score = "zh", sum(w in joined for w in self.zh_function)
        if not latin:
            return other
        if other_score != latin_score:
            return other if other_score > latin_score else latin_lang
        if not latin_score:  # no grammar on either side: the Latin words are a name or term
            return other
        if other == "ar" and arabic * 2 >= latin:
            return "ar"
        if other == "zh" and han * 3 >= latin:
            return "zh"
        return latin_lang

    def _latin(self, words: list[str], lower: str) -> tuple[str, int]:
        """The language of the Latin-letter words ("en", "fr", or "ar" for Darija) and
        how many function words, markers, accents and elisions tell it."""
        fr = sum(w in self.fr_only for w in words)
        if not lower.isascii():
            fr += 2 * any(c in FRENCH_LETTERS for c in lower)
        if "'" in lower or "’" in lower:
            fr += len(_ELISION.findall(lower))
        en = sum(w in self.en_only for w in words)
        # a word of letters only has no digit standing for a sound
        darija = sum(w in self.darija or (not w.isalpha() and is_arabizi(w)) for w in words)
        latin_lang, latin_score = ("fr", fr) if fr > en else ("en", en)
        if darija and darija >= latin_score:  # no English speaker types "chkoun"; Darija
            latin_lang, latin_score = "ar", darija  # speakers do say "hello", "merci"
        pinyin = sum(w in self.pinyin for w in words)
        if pinyin > latin_score:  # "shei jiang le ...": answered in Chinese characters
            latin_lang, latin_score = "zh", pinyin
        return latin_lang, latin_score
