"""Names typed in another script, matched by sound against the Latin names of the knowledge.

The article spells every name in Latin letters only, so no name is ever written here in
Chinese characters or Arabic letters (that would invent a spelling); instead both sides are
brought to a common form:

- Chinese characters -> pinyin syllables. Every reading of a polyphonic character counts
  (明 míng/mèng, 行 xíng/háng...): which one a user meant cannot be known from a name.
  A Latin name is split into pinyin syllables ("Xu Xianming" -> xu xian ming); a run of
  characters matches when one choice of readings spells all its syllables, in order.
  Only names of two syllables or more are read this way: one character ("李", "蔡") is far
  too common to stand for a person.
- Arabic script -> a consonant skeleton. Short vowels are not written in Arabic and long
  ones are written with ا و ي, which Latin spellings render as a, ou, i, e...; so vowels,
  semivowels and ʿayn are dropped on both sides, and the consonants that transliterations
  confuse are merged into one class (ق ك خ / q k kh -> K; ش س ص / ch sh s -> S; ...).
  "جيهان بريني" and "Jihane Brini" both become JHN BRN. A word of one consonant ("Cai"
  -> K) only completes the other words of its name ("كاي بين"): alone it matches anything.

Tables are built once, when this module is imported (pypinyin's character table is loaded
then; its phrase table is not needed, since every reading is wanted).
"""
from __future__ import annotations

import os
import re
from functools import lru_cache

# pypinyin's phrase table (contextual readings) takes ~1 s to load and is not used here:
# a name is matched under every reading of each character. An explicit setting wins.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")

from pypinyin import Style, pinyin  # noqa: E402

PINYIN_MARK = "@"     # prefix of a pinyin name token in the index ("@xu-xian-ming")
SKELETON_MARK = "#"   # prefix of a consonant-skeleton token ("#jhn")
MIN_SYLLABLES = 2
MAX_SYLLABLES = 5
MIN_SKELETON = 2      # a skeleton of one consonant ("Cai" -> K) would match anything alone
MIN_HEARD = 3         # consonants a name heard from another script needs, unless alone
ARTICLES = frozenset({"el", "al"})  # written joined in Arabic (الحمزاوي), dropped in Chinese

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j",
             "q", "x", "r", "z", "c", "s", "y", "w")
_FINALS = ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "er", "i",
           "ia", "ie", "iao", "iu", "ian", "in", "iang", "ing", "iong", "u", "ua", "uo", "uai",
           "ui", "uan", "un", "uang", "ueng", "v", "ve", "van", "vn", "ue")
# a syllable without an initial is written with y or w, except these ("an", "er", "ou")
_BARE = ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "er")
SYLLABLES = frozenset([*(i + f for i in _INITIALS for f in _FINALS), *_BARE])
_LONGEST = max(map(len, SYLLABLES))


@lru_cache(maxsize=100_000)
def syllables(word: str) -> tuple[str, ...] | None:
    """Split one lowercase ASCII word into pinyin syllables, fewest first ("xianming" ->
    ("xian", "ming")); None when it is not pinyin ("hamzaoui")."""
    n = len(word)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 1, min(n, i + _LONGEST) + 1):
            part = word[i:j]
            if part in SYLLABLES:
                found = best[j]
                if found is None or len(found) > len(here) + 1:
                    best[j] = (*here, part)
    return best[n]


def pinyin_token(words: list[str]) -> str | None:
    """Return the pinyin token of a Latin name given as normalised words, or None when a
    word is not pinyin or the name has fewer than two syllables."""
    out: list[str] = []
    for word in words:
        if not word.isascii() or not word.isalpha():
            return None
        parts = syllables(word)
        if not parts:
            return None
        out.extend(parts)
    if not MIN_SYLLABLES <= len(out) <= MAX_SYLLABLES:
        return None
    return PINYIN_MARK + "-".join(out)


@lru_cache(maxsize=50_000)
def readings(char: str) -> tuple[str, ...]:
    """Every toneless pinyin reading of one Chinese character (ü written v and u)."""
    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    out: list[str] = []
    for group in found:
        for reading in group:
            out.append(reading)
            if "v" in reading:
                out.append(reading.replace("v", "u"))
    return tuple(dict.fromkeys(out))


def han_names(chars: list[str], tokens: frozenset[str], prefixes: frozenset[str]
              ) -> list[tuple[str, int, int]]:
    """Find runs of characters that read as a known pinyin name.

    Args:
        chars: consecutive Chinese characters of a message.
        tokens: known pinyin tokens ("@xu-xian-ming"); prefixes: their syllable prefixes
            ("@xu", "@xu-xian"), to stop early.
    Returns:
        (token, start, end) for each match, ``end`` exclusive, longest first per start.
    """
    found: list[tuple[str, int, int]] = []
    for start in range(len(chars)):
        stack = [(PINYIN_MARK, start)]
        hits: list[tuple[str, int, int]] = []
        while stack:
            prefix, i = stack.pop()
            if i >= len(chars) or i - start >= MAX_SYLLABLES:
                continue
            for reading in readings(chars[i]):
                token = prefix + ("" if prefix == PINYIN_MARK else "-") + reading
                if token in tokens and i + 1 - start >= MIN_SYLLABLES:
                    hits.append((token, start, i + 1))
                if token in prefixes:
                    stack.append((token, i + 1))
        hits.sort(key=lambda h: h[1] - h[2])
        found.extend(dict.fromkeys(hits))
    return found


def pinyin_prefixes(token: str) -> list[str]:
    """The proper prefixes of a pinyin token, syllable by syllable."""
    parts = token[len(PINYIN_MARK):].split("-")
    return [PINYIN_MARK + "-".join(parts[:k]) for k in range(1, len(parts))]


# -- Arabic script <-> Latin letters ------------------------------------------------------
_LATIN_PAIRS = (("kh", "k"), ("gh", "g"), ("ch", "s"), ("sh", "s"), ("th", "t"),
                ("dh", "d"), ("ph", "f"), ("zh", "j"), ("ck", "k"), ("qu", "k"), ("dj", "j"))
VOWEL = "_"   # a vowel (or semivowel) between consonants, in a word's shape
_LATIN = str.maketrans({"p": "b", "q": "k", "c": "k", "x": "s", "v": "f",
                        **dict.fromkeys("aeiouyw", VOWEL)})
_ARABIC = str.maketrans({
    "ب": "b", "پ": "b", "ت": "t", "ط": "t", "ث": "t", "ج": "j", "ح": "h", "ه": "h",
    "خ": "k", "د": "d", "ذ": "d", "ض": "d", "ظ": "d", "ر": "r", "ز": "z", "س": "s",
    "ص": "s", "ش": "s", "غ": "g", "ڭ": "g", "گ": "g", "ف": "f", "ڤ": "f", "ق": "k",
    "ك": "k", "ل": "l", "م": "m", "ن": "n",
    **dict.fromkeys("اأإآٱوؤيئىءعة", VOWEL)})
_REPEAT = re.compile(r"(.)\1+")


def _collapse(text: str) -> str:
    return _REPEAT.sub(r"\1", text)


@lru_cache(maxsize=100_000)
def latin_shape(word: str) -> tuple[str, frozenset[int]]:
    """The consonant skeleton of a normalised Latin word and the places of its vowels
    ("khadir" -> ("kdr", {1, 2}): a vowel after the 1st and after the 2nd consonant)."""
    word = _collapse(word)
    for pair, cls in _LATIN_PAIRS:
        word = word.replace(pair, cls)
    return _split_shape(_collapse(word.translate(_LATIN)))


@lru_cache(maxsize=100_000)
def arabic_shape(word: str) -> tuple[str, frozenset[int]]:
    """The consonant skeleton of a normalised Arabic word and the places of its written
    long vowels (ا و ي, a final ه that was ة): "خضير" -> ("kdr", {2}); ("", {}) when it
    has letters outside the table."""
    if len(word) > 2 and word.endswith("ه"):
        word = word[:-1] + "ة"
    out = _collapse(_collapse(word).translate(_ARABIC))
    if not out.isascii() or not out.replace(VOWEL, "").isalpha():
        return "", frozenset()
    return _split_shape(out)


def _split_shape(shape: str) -> tuple[str, frozenset[int]]:
    consonants: list[str] = []
    slots: set[int] = set()
    for ch in shape:
        if ch == VOWEL:
            slots.add(len(consonants))
        else:
            consonants.append(ch)
    return "".join(consonants), frozenset(slots)


def latin_skeleton(word: str) -> str:
    """The consonant skeleton of a normalised Latin word ("hamzaoui" -> "hmz")."""
    return latin_shape(word)[0]


@lru_cache(maxsize=100_000)
def word_skeleton(word: str) -> str | None:
    """The skeleton token of a normalised Latin name word ("hamzaoui" -> "#hmz"; cached:
    names share their words). A word of one consonant ("cai" -> "#k") gets one too, a
    companion (:func:`is_companion`): too short to name anyone alone, it counts beside
    the other words of its name ("كاي بين" for Cai Bin). None for vowel-only words and
    the article "El" (Arabic writes it joined to the next word: it never stands alone)."""
    skeleton = latin_shape(word)[0]
    if not skeleton or (len(skeleton) == 1 and word in ARTICLES):
        return None
    return SKELETON_MARK + skeleton


def is_companion(token: str) -> bool:
    """True when ``token`` is a skeleton token shorter than MIN_SKELETON ("#k")."""
    return len(token) <= MIN_SKELETON and token[0] == SKELETON_MARK


def arabic_skeleton(word: str) -> str:
    """The consonant skeleton of a normalised Arabic word ("جيهان" -> "jhn")."""
    return arabic_shape(word)[0]


def vowels_fit(arabic: frozenset[int], latin: frozenset[int]) -> bool:
    """Whether the long vowels an Arabic spelling writes fall where the Latin name has
    vowels (Arabic leaves short vowels unwritten, so the Latin may have more): "اخضر"
    (green, a vowel before the first consonant) is not "Khadir"."""
    return arabic <= latin


def skeleton_token(skeleton: str) -> str | None:
    """Return the index token of a skeleton, None when empty (a skeleton shorter than
    MIN_SKELETON is a companion: see :func:`word_skeleton`)."""
    return SKELETON_MARK + skeleton if skeleton else None


def is_arabic(word: str) -> bool:
    """True when ``word`` starts with an Arabic letter."""
    return "\u0600" <= word[0] <= "\u06ff"


__all__ = ["pinyin_token", "han_names", "pinyin_prefixes", "latin_skeleton", "latin_shape",
           "word_skeleton", "arabic_skeleton", "arabic_shape", "vowels_fit", "skeleton_token",
           "is_arabic", "syllables", "readings", "is_companion",
           "MIN_HEARD", "ARTICLES"]
