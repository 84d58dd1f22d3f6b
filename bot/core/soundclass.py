"""Coarse sound classes of names transcribed by ear from one script into another.

:mod:`bot.core.phonetic` compares spellings letter by letter (an Arabic consonant with the
Latin letter of the same shape). Two kinds of transcription follow the SOUND of a name
instead, and need these classes:

- A pinyin name written in Arabic letters. Arabic writers render what pinyin letters sound
  like, not their Latin shape: q -> تش (ch), x -> ش (sh), c -> تس (ts), z -> تز/ز, zh -> ج,
  h -> خ/ه, -ng -> نغ. Both sides become classes of consonants (every velar and h one
  class K, -n and -ng one class N...), looked up with every sibilant and affricate as one
  class S ("Qin Jing" -> "SNSN" ~ "تشين جينغ"), then checked syllable by syllable with the
  letters each pinyin initial may be written with (q تش, never ش: "Xiao" is not "Cai").
- A Latin (Moroccan, French-spelled) name written in Chinese characters. Chinese
  transcription gives every consonant a syllable (姆 mu for m, 特 te for t, 尔 er for a final
  r, 斯 si for s) and drops the article "El"; the characters' initials keep the consonants:
  "哈姆扎维" (ha-mu-zha-wei) -> "HMSW" ~ "Hamzaoui". Chinese has no r (里 li, 尔 er), so r
  and l are one class there; j, q, x (only ever before i/ü: 吉 ji for "gi", 基 ji for
  "ki") stand for several consonants and are compared as each. A character is read with
  its usual reading only: names are transcribed with those (塔 ta, never da).

Only characters used to transcribe foreign names (:data:`TRANSCRIPTION_CHARS`) are read
this way: 卡塔尔 (Qatar) is, 开头了 ("began") is not.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from .phonetic import ARTICLES, syllables

# -- pinyin written in Arabic letters ------------------------------------------------------
# Classes: B M F T N L R K, and the sibilants and affricates, one class S when looking up
# but told apart when checking (lowercase): x ش, s س ص, z ز, j ج, q تش, c تس.
# pinyin initial -> the sibilant letters an Arabic writer may use for it, or its class
# (y and w are vowels); the longest initials first
_PINYIN_INITIALS = (("zh", "jq"), ("ch", "qx"), ("sh", "x"), ("b", "B"), ("p", "B"),
                    ("m", "M"), ("f", "F"), ("d", "T"), ("t", "T"), ("n", "N"), ("l", "L"),
                    ("r", "R"), ("g", "K"), ("k", "K"), ("h", "K"), ("j", "j"), ("q", "q"),
                    ("x", "xs"), ("z", "zc"), ("c", "cs"), ("s", "s"), ("y", ""), ("w", ""))
_ARABIC_CLASS = {
    **dict.fromkeys("بپ", "B"), "م": "M", **dict.fromkeys("فڤ", "F"),
    **dict.fromkeys("تطدضذظث", "T"), "ن": "N", "ل": "L", "ر": "R",
    **dict.fromkeys("كقخغهحگڭ", "K"), "ش": "x", **dict.fromkeys("سص", "s"), "ز": "z",
    **dict.fromkeys("جژ", "j"), "چ": "q",
    **dict.fromkeys("اأإآٱوؤيئىءعة", ""),
}
_AFFRICATE = {"ش": "q", "س": "c", "ز": "z", "ج": "j", "ص": "c"}  # تش ch, تس ts, تز dz
_NG = frozenset("غكقج")           # ن before one of these at a word's end is -ng (نغ, نج)
_LONG_VOWELS = frozenset("اأإآٱوؤيئى")
_WRITTEN_VOWELS = frozenset("aiouv")  # pinyin vowels Arabic writes (ا ي و); e it may not
_COARSE = str.maketrans(dict.fromkeys("xszjqc", "S"))
# one syllable: per consonant it keeps, the letters (classes) it may be written with
Syllable = tuple[str, ...]


def coarse(classes: str) -> str:
    """The lookup form of a class string: every sibilant one class S ("qN" -> "SN")."""
    return classes.translate(_COARSE)


@lru_cache(maxsize=4096)
def pinyin_syllable_class(syllable: str) -> Syllable:
    """The consonants of one toneless pinyin syllable as Arabic may write them: "qin" ->
    ("q", "N") (تشين), "xiao" -> ("xs",) (شياو, سياو), "er" -> ("R",), "ai" -> ()."""
    initial: list[str] = []
    rest = syllable
    for spelled, cls in _PINYIN_INITIALS:
        if syllable.startswith(spelled) and len(syllable) > len(spelled):
            initial, rest = ([cls] if cls else []), syllable[len(spelled):]
            break
    if rest == "er":
        return (*initial, "R")
    return (*initial, *(("N",) if rest.endswith(("n", "ng")) else ()))


def pinyin_classes(token: str) -> tuple[Syllable, ...]:
    """The syllables of a pinyin token ("@qin-jing" -> (("q", "N"), ("j", "N")))."""
    return tuple(map(pinyin_syllable_class, token.lstrip("@").split("-")))


def pinyin_key(syllables: Sequence[Syllable]) -> str:
    """The lookup string of a pinyin name's syllables ("Qin Jing" -> "SNSN")."""
    return coarse("".join(allowed[0] for syllable in syllables for allowed in syllable))


def pinyin_vowels(token: str) -> tuple[int, ...]:
    """Per syllable of a pinyin token, 1 when Arabic must write its vowel (a, i, o, u: ا ي
    و), 0 when it may leave it out (e alone: "sheng" شنغ, "deng" دنغ)."""
    return tuple(_written_vowel(s) for s in token.lstrip("@").split("-"))


@lru_cache(maxsize=4096)
def _written_vowel(syllable: str) -> int:
    return int(not _WRITTEN_VOWELS.isdisjoint(syllable))


def arabic_vowels(word: str) -> int:
    """How many long-vowel letters (ا و ي and their forms) a normalised Arabic word has."""
    return sum(1 for ch in word if ch in _LONG_VOWELS)


@lru_cache(maxsize=20_000)
def arabic_class(word: str) -> str | None:
    """The class string of a normalised Arabic word heard as pinyin ("تشين" -> "qN",
    "جينغ" -> "jN", "تساي" -> "c"); None when it has a letter outside the table."""
    out: list[str] = []
    n = len(word)
    i = 0
    while i < n:
        ch = word[i]
        if i + 1 < n and ch == word[i + 1]:  # a doubled letter is one sound
            i += 1
            continue
        cls = _ARABIC_CLASS.get(ch)
        if cls is None:
            return None
        if ch == "ت" and i + 1 < n and word[i + 1] in _AFFRICATE:
            cls, i = _AFFRICATE[word[i + 1]], i + 1
        elif ch == "ن" and i + 1 < n and word[i + 1] in _NG and (
                word[i + 1] == "غ" or i + 2 == n):
            i += 1
        elif ch == "ه" and i == n - 1 and i > 0:
            cls = ""  # a final ه writes a vowel ("خه" he)
        out.append(cls)
        i += 1
    return "".join(out)


class PinyinName(NamedTuple):
    """A pinyin name as Arabic may write it.

    Attributes:
        token: its pinyin token ("@xu-xian-ming").
        syllables: per syllable, the letters (classes) of each consonant it keeps
            (:func:`pinyin_syllable_class`).
        vowels: per syllable, 1 when Arabic must write its vowel (:func:`pinyin_vowels`).
        breaks: syllables that start a Latin word in every spelling of the name ({1} for
            "Xu Xianming" and "Xu Xian Ming"): an Arabic word never runs across one.
    """

    token: str
    syllables: tuple[Syllable, ...]
    vowels: tuple[int, ...]
    breaks: frozenset[int]


def pinyin_name(token: str, spellings: Sequence[Sequence[str]]) -> PinyinName:
    """The :class:`PinyinName` of a pinyin token, given the Latin spellings (normalised
    words) it comes from; each word must split into pinyin syllables."""
    breaks: set[int] | None = None
    for words in spellings:
        at, starts = 0, set()
        for word in words[:-1]:
            at += len(syllables(word) or ())
            starts.add(at)
        breaks = starts if breaks is None else breaks & starts
    return PinyinName(token, pinyin_classes(token), pinyin_vowels(token),
                      frozenset(breaks or ()))


def spelled_by(words: Sequence[str], word_vowels: Sequence[int], name: PinyinName) -> bool:
    """Whether consecutive Arabic words spell a pinyin name in order: each word one or more
    syllables of one Latin word of the name, with letters each syllable may be written
    with and enough written vowels.

    Args:
        words: class string of each word (:func:`arabic_class`).
        word_vowels: long-vowel letters of each word (:func:`arabic_vowels`).
    "شو شيان مينغ" (x, xN, MN) spells Xu Xian Ming, "شو شيانمينغ" too (Xian and Ming
    written together); "جبن" (jBN, no vowel letter, and Cai and Bin in one word) is not
    Cai Bin, nor is "شياو بينغ" (Xiao Ping: ش is no c).
    """
    syllables, needs, breaks = name.syllables, name.vowels, name.breaks

    def fit(w: int, s: int) -> bool:
        if w == len(words):
            return s == len(syllables)
        word = words[w]
        joined: list[str] = []
        needed = 0
        for k in range(s, len(syllables)):
            if k > s and k in breaks:
                return False
            joined.extend(syllables[k])
            needed += needs[k]
            if len(joined) > len(word) or needed > word_vowels[w]:
                return False
            if len(joined) == len(word) and all(
                    ch in allowed for ch, allowed in zip(word, joined)) and fit(w + 1, k + 1):
                return True
        return False
    return fit(0, 0)


# -- Latin names written in Chinese characters -------------------------------------------
# Characters of the Xinhua transcription tables for foreign names (英/法/阿拉伯语译音表),
# as OpenCC leaves them (simplified).
TRANSCRIPTION_CHARS = frozenset(
    "阿埃艾爱安昂奥敖巴拜班邦保鲍贝本比毕宾波博伯布查达戴代丹道德登迪蒂丁东杜敦顿多厄恩尔"
    "法凡范菲斐芬费丰冯佛弗夫福富盖甘冈高戈哥格根贡古瓜圭哈海汉罕豪赫黑亨洪胡华惠霍基吉加"
    "贾杰捷金津卡凯坎康考柯科克肯库夸奎昆拉腊莱赖兰朗劳勒雷蕾里利莉丽连林琳卢鲁路伦罗洛"
    "马玛迈麦曼芒毛茂梅美门蒙孟米密敏明莫墨默姆穆木纳娜奈南瑙内尼妮宁努诺欧帕派潘庞佩彭"
    "皮普奇齐契钦琼丘萨撒赛塞桑瑟森沙莎尚绍舍谢申圣施什史士舒斯丝松苏索塔泰坦汤唐陶特藤"
    "提廷通图托瓦万旺威韦维温文沃乌伍武西希锡席夏辛休修许薛雅亚扬耶叶伊因英尤于约扎宰赞"
    "泽詹兹佐祖茨策采楚哲朱卓")
# Chinese keeps apart what Arabic-derived Latin spellings keep apart: h and kh (哈 ha), k
# and q (卡 ka, 克 ke), g and gh (加 jia, 格 ge); and b/p, d/t (巴 ba, 帕 pa; 达 da, 塔 ta)
_HAN_INITIALS = (("zh", "S"), ("ch", "S"), ("sh", "S"), ("b", "B"), ("p", "B"), ("m", "M"),
                 ("f", "F"), ("d", "D"), ("t", "T"), ("n", "N"), ("l", "L"), ("r", "L"),
                 ("g", "G"), ("k", "K"), ("h", "H"), ("j", "J"), ("q", "Q"), ("x", "X"),
                 ("z", "S"), ("c", "S"), ("s", "S"), ("y", ""))
# the palatal initials, only ever before i/ü, stand for several Latin consonants: 吉 ji for
# "gi" or "j", 基 ji for "ki", 奇 qi for "ki" or "chi", 希 xi for "hi", "chi" or "si"
WILD = {"J": "GKS", "Q": "KS", "X": "SH"}
MAX_READINGS = 8   # class strings tried per run of characters


def han_syllable_class(syllable: str) -> str:
    """The class string of the pinyin of one transcription character: its initial, and
    -n/-ng as N, "er" as L; w before a vowel other than u is W ("wei" 维 -> "W", "mu" 姆 ->
    "M", "er" 尔 -> "L", "wu" 乌 -> "")."""
    if syllable == "er":
        return "L"
    if syllable.startswith("w"):
        initial, rest = ("" if syllable[1:2] == "u" else "W"), syllable[1:]
    else:
        initial, rest = "", syllable
        for spelled, cls in _HAN_INITIALS:
            if syllable.startswith(spelled) and len(syllable) > len(spelled):
                initial, rest = cls, syllable[len(spelled):]
                break
    return initial + ("N" if rest.endswith(("n", "ng")) and rest not in ("n", "ng") else "")


def han_classes(syllables: Sequence[str]) -> list[str]:
    """Class strings of a run of transcription characters given their pinyin (the first,
    usual reading of each: 塔 is ta in a name, never da): repeated classes collapsed, each
    J, Q, X expanded to what they may stand for ("吉哈内" ji-ha-nei -> ["GHN", "KHN",
    "SHN"]); at most MAX_READINGS."""
    return list(dict.fromkeys(_unwild(_collapse("".join(
        han_syllable_class(s) for s in syllables)))))


def _unwild(text: str) -> list[str]:
    found = [""]
    for ch in text:
        found = [f + c for f in found for c in WILD.get(ch, ch)][:MAX_READINGS]
    return [_collapse(f) for f in found]


_LATIN_PAIRS = (("kh", "H"), ("gh", "G"), ("ch", "S"), ("sh", "S"), ("th", "T"), ("dh", "D"),
                ("ph", "F"), ("qu", "K"), ("ck", "K"), ("dj", "S"))
_LATIN_CLASS = {**dict.fromkeys("bp", "B"), "m": "M", **dict.fromkeys("fv", "F"), "d": "D",
                "t": "T", "n": "N", **dict.fromkeys("lr", "L"), **dict.fromkeys("kqc", "K"),
                "g": "G", "h": "H", **dict.fromkeys("jszx", "S"), "w": "W",
                **dict.fromkeys("aeiouy", "")}
_VOWELS = frozenset("aeiouy")
_REPEAT = re.compile(r"(.)\1+")


@lru_cache(maxsize=20_000)
def latin_word_class(word: str) -> str | None:
    """The Chinese-transcription class string of one normalised Latin word ("hamzaoui" ->
    "HMSW": "ou" before a vowel is heard as w); None when not plain letters."""
    if not word.isascii() or not word.isalpha():
        return None
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        pair = word[i:i + 2]
        cls = next((c for p, c in _LATIN_PAIRS if p == pair), None)
        if cls is not None:
            out.append(cls)
            i += 2
            continue
        if pair == "ou" and i + 2 < n and word[i + 2] in _VOWELS:
            out.append("W")
            i += 2
            continue
        out.append(_LATIN_CLASS.get(word[i], ""))
        i += 1
    return _collapse("".join(out))


@lru_cache(maxsize=20_000)
def latin_classes(words: tuple[str, ...]) -> tuple[str, ...]:
    """Class strings of a Latin name given as normalised words: the whole name, and without
    its articles when it has some (("el", "hamzaoui") -> ("LHMSW", "HMSW"))."""
    found: list[str] = []
    for kept in (words, tuple(w for w in words if w not in ARTICLES)):
        classes = [latin_word_class(w) for w in kept]
        if kept and all(c is not None for c in classes):
            found.append(_collapse("".join(c or "" for c in classes)))
    return tuple(dict.fromkeys(found))


def _collapse(text: str) -> str:
    return _REPEAT.sub(r"\1", text)


__all__ = ["pinyin_syllable_class", "pinyin_classes", "pinyin_key", "pinyin_vowels",
           "arabic_vowels", "arabic_class", "coarse", "spelled_by", "Syllable",
           "PinyinName", "pinyin_name",
           "TRANSCRIPTION_CHARS", "han_syllable_class", "han_classes", "latin_word_class",
           "latin_classes", "WILD", "MAX_READINGS"]
