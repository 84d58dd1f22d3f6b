"""Names written in another script, found in a message: the sound-alike side of the match
index (:mod:`bot.core.index`).

The article spells every name in Latin letters; users write them as they hear them:

- Chinese characters that read as a pinyin name ("徐先明" Xu Xianming, every reading of a
  polyphonic character: :func:`bot.core.phonetic.han_names`);
- Arabic words with a Latin name word's consonant skeleton ("جيهان بريني" Jihane Brini); a
  name word of one consonant ("كاي" for Cai) only completes a name found by the others;
- Arabic words that spell a pinyin name by its sound ("تشين جينغ" Qin Jing: q is تش);
- characters used to transcribe foreign names, read as a Latin name's consonants
  ("哈姆扎维" El Hamzaoui: :mod:`bot.core.soundclass`).

Each adds the index tokens of the names found to the message's ``best`` table, at
PHONETIC_SIM or less: a name heard from another script is never certain. The tables only
these searches need are built on first use, so building the index and Latin messages pay
nothing for them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from rapidfuzz.distance import Levenshtein

from . import phonetic, soundclass
from .normalize import is_han, tokenize

if TYPE_CHECKING:
    from .index import AliasRecord, MatchIndex

PHONETIC_SIM = 0.9        # a name matched by sound from another script is never certain
SOUND_MIN = 3             # consonant classes a name transcribed by ear needs (Cai Bin: SBN)
SHORT_FUNCTION_WORD = 2   # letters of a function word that may be a syllable (لي li, من min)
FUNCTION_WORD_FACTOR = 0.85  # a name heard with a function word in it is less sure
TRANSCRIBED_MIN = 0.8     # class-string similarity of characters read as a Latin name
FUZZY_SOUND_LEN = 5       # classes from which one edit is allowed (1 - 1/5 = 0.8)
TRANSCRIBED_SPAN = 8      # characters of a run of transcription characters read as names
# token -> (best similarity, message positions) of the tokens a message reached
Best = dict[str, tuple[float, frozenset[int]]]


class HeardNames:
    """The sound-alike search of one match index.

    Args:
        index: the index whose sound-alike records (``heard_postings``, records from
            ``heard_start`` on) are searched; its tables are kept, not the index itself
            (a reference cycle would keep every old index of 100 MB alive until the
            garbage collector's next full pass).
        deletes: a word's one-deletion variants, itself included (the index's typo table
            uses the same).
    """

    def __init__(self, index: MatchIndex, deletes: Callable[[str], set[str]]) -> None:
        self.records: list[AliasRecord] = index.records
        self.heard_start = index.heard_start
        self.heard_postings = index.heard_postings
        self.skeleton_vowels = index.skeleton_vowels
        self.pinyin_names = index.pinyin_names
        self.pinyin_prefixes = index.pinyin_prefixes
        self.known_words = index.known_words
        self.stopwords = index.stopwords
        self.deletes = deletes

    def find(self, units: list[str], content: frozenset[int], best: Best
             ) -> frozenset[str]:
        """Add to ``best`` the names written in another script and return the weak tokens
        among them: name words of one consonant ("كاي" for Cai), which only complete a
        name (see :meth:`bot.core.index.MatchIndex._accumulate`).

        - runs of Chinese characters that read as a pinyin name ("徐先明");
        - Arabic words whose skeleton is a name's word (only words the knowledge does not
          already know, so "حمل" stays pregnancy);
        - Arabic words that spell a pinyin name by its sound ("تشين جينغ" Qin Jing);
        - runs of characters used to transcribe foreign names that no pinyin name or known
          word explains, read as a Latin name's consonants ("哈姆扎维" El Hamzaoui).
        """
        run: list[int] = []
        arabic = False
        for i in [*range(len(units)), len(units)]:
            if i < len(units) and is_han(units[i][0]):
                run.append(i)
                continue
            if len(run) >= phonetic.MIN_SYLLABLES and self.pinyin_names:
                chars = [units[j] for j in run]
                for token, start, end in phonetic.han_names(chars, self.pinyin_names,
                                                            self.pinyin_prefixes):
                    if token not in best:
                        best[token] = (PHONETIC_SIM, frozenset(run[start:end]))
            run = []
            if i < len(units) and phonetic.is_arabic(units[i]):
                arabic = True
                skeleton = None
                if i in content and units[i] not in self.known_words:
                    skeleton = self._skeleton_name(units[i])
                elif units[i] in self.stopwords:
                    # a function word may complete a name ("لي جينباو", Li Jinbao), never
                    # start one
                    skeleton = self._skeleton_name(units[i])
                    if skeleton and not phonetic.is_companion(skeleton):
                        skeleton = None
                if skeleton:
                    old = best.get(skeleton)
                    if old is None:
                        best[skeleton] = (PHONETIC_SIM, frozenset((i,)))
                    else:  # the same name's skeleton twice: both words are that name
                        best[skeleton] = (old[0], old[1] | {i})
        if arabic and self.pinyin_names:
            self._pinyin_in_arabic(units, best)
        if len(units) >= 3 and any(is_han(u[0]) for u in units):
            self._transcribed(units, content, best)
        return frozenset(t for t in best if phonetic.is_companion(t))

    def _skeleton_name(self, word: str) -> str | None:
        """The skeleton token of a name an Arabic word can spell: same consonants, and its
        written long vowels where the Latin name has vowels. The tokenizer drops a leading
        "ال", which may belong to the name (إلهام), so both spellings are tried."""
        for spelled in (word, "ال" + word):
            skeleton, slots = phonetic.arabic_shape(spelled)
            token = phonetic.skeleton_token(skeleton)
            if token and token in self.heard_postings and any(
                    phonetic.vowels_fit(slots, latin)
                    for latin in self.skeleton_vowels.get(token, ())):
                return token
        return None

    @cached_property
    def _pinyin_sounds(self) -> dict[str, list[soundclass.PinyinName]]:
        """Lookup string -> the pinyin names of two words or more, surname and given name,
        that have it ("SNSN" -> [Qin Jing]; "Jihane" reads ji-ha-ne but is no Chinese
        name). Built on the first Arabic message, so that building the index and Latin
        messages pay nothing for it."""
        spellings: dict[str, list[list[str]]] = defaultdict(list)
        for rec in self.records[self.heard_start:]:
            if rec.tokens[0][0] == phonetic.PINYIN_MARK:
                words = rec.text.lower().split()
                if not all(w.isalpha() and w.isascii() for w in words):
                    words = tokenize(rec.text)  # "Xu-Xianming": as tokenised
                if len(words) > 1:
                    spellings[rec.tokens[0]].append(words)
        found: dict[str, list[soundclass.PinyinName]] = defaultdict(list)
        for token, spelled in spellings.items():
            name = soundclass.pinyin_name(token, spelled)
            key = soundclass.pinyin_key(name.syllables)
            if len(key) >= SOUND_MIN:
                found[key].append(name)
        return dict(found)

    def _pinyin_in_arabic(self, units: list[str], best: Best) -> None:
        """Add the pinyin names that consecutive Arabic words spell by sound, each word one
        or more syllables of one word of the name ("شو شيان مينغ" Xu Xianming). Known
        words end a name, and a name needs a word the knowledge does not know. A short
        function word may be a syllable ("لي جين باو", Li Jin Bao) beside two other words,
        and makes the name less sure ("من هو تشانغ وي": "هو" could be He)."""
        sounds = self._pinyin_sounds
        stop = [u in self.stopwords for u in units]
        classes = [soundclass.arabic_class(u) if phonetic.is_arabic(u) and (
            u not in self.known_words or (stop[i] and len(u) <= SHORT_FUNCTION_WORD))
            else None for i, u in enumerate(units)]
        for start in range(len(units)):
            joined = ""
            for end in range(start, min(len(units), start + phonetic.MAX_SYLLABLES)):
                cls = classes[end]
                if cls is None:
                    break
                joined += soundclass.coarse(cls)
                names = sounds.get(joined)
                if not names or (any(stop[start:end + 1]) and
                                 sum(not s for s in stop[start:end + 1]) < 2):
                    continue
                words = [c or "" for c in classes[start:end + 1]]
                vowels = [soundclass.arabic_vowels(u) for u in units[start:end + 1]]
                positions = frozenset(range(start, end + 1))
                score = PHONETIC_SIM * (FUNCTION_WORD_FACTOR if any(stop[start:end + 1])
                                        else 1.0)
                for name in names:
                    if soundclass.spelled_by(words, vowels, name):
                        old = best.get(name.token)
                        if old is None or (old[0], len(old[1])) < (score, len(positions)):
                            best[name.token] = (score, positions)

    @cached_property
    def _latin_sounds(self) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
        """Chinese-transcription class string -> the sound-alike records of Latin names
        ("HMSW" -> El Hamzaoui's records), and each string's one-deletion variants ->
        the strings (a symmetric-delete table, as for typos: one edit is found without
        comparing every name).

        A record stands for its words in any order ("Jihane Brini" and "Brini Jihane"
        share one), so a name of two words is read both ways. A person with a pinyin name
        of two words or more ("Li Jinbao") is left out: Chinese users write it in its own
        characters, which the pinyin reading finds. Built on the first Chinese message, so
        building the index and Latin messages pay nothing for it."""
        chinese = {self.records[idx].key for token in self.pinyin_names
                   for idx, _ in self.heard_postings[token]
                   if " " in self.records[idx].text.strip()}
        found: dict[str, list[int]] = defaultdict(list)
        for idx in range(self.heard_start, len(self.records)):
            rec = self.records[idx]
            if rec.tokens[0][0] != phonetic.SKELETON_MARK or rec.key in chinese:
                continue
            words = rec.text.lower().split()
            if not all(w.isalpha() and w.isascii() for w in words):
                words = tokenize(rec.text)
            orders = [tuple(words), tuple(words[::-1])] if len(words) == 2 else [tuple(words)]
            for cls in dict.fromkeys(c for w in orders for c in soundclass.latin_classes(w)):
                if len(cls) >= SOUND_MIN:
                    found[cls].append(idx)
        deletes: dict[str, list[str]] = defaultdict(list)
        for cls in found:
            if len(cls) >= FUZZY_SOUND_LEN - 1:
                for variant in self.deletes(cls):
                    deletes[variant].append(cls)
        return dict(found), dict(deletes)

    def _transcribed(self, units: list[str], content: frozenset[int], best: Best) -> None:
        """Read runs of transcription characters that nothing else explains as Latin names'
        consonants ("艾特哈迪尔" -> THDL ~ "Ait (El) Khadir"): every stretch of three
        characters or more is compared, and the best readings that do not overlap are kept
        (exact before close, longer before shorter); a close reading scores lower."""
        covered = frozenset().union(*(p for _, p in best.values()))
        spans: list[list[int]] = [[]]
        for i, unit in enumerate(units):
            if i in content and i not in covered and unit in soundclass.TRANSCRIPTION_CHARS:
                spans[-1].append(i)
            elif spans[-1]:
                spans.append([])
        for span in spans:
            span = span[:TRANSCRIBED_SPAN]
            hits = [hit for length in range(3, len(span) + 1)
                    for start in range(len(span) - length + 1)
                    for hit in self._sounds_like(span[start:start + length], units)]
            hits.sort(key=lambda h: (h[0], len(h[2])), reverse=True)
            taken: dict[frozenset[int], float] = {}
            for sim, idx, positions in hits:
                if taken.get(positions, sim) != sim or any(
                        p != positions and p & positions for p in taken):
                    continue
                taken[positions] = sim
                score = PHONETIC_SIM * sim
                for token in self.records[idx].tokens:
                    old = best.get(token)
                    if old is None or old[0] < score:
                        best[token] = (score, positions)

    def _sounds_like(self, span: list[int], units: list[str]
                     ) -> list[tuple[float, int, frozenset[int]]]:
        """(similarity, record, positions) of the Latin names a run of characters sounds
        like: the same classes (1.0), or, from FUZZY_SOUND_LEN classes, one edit away
        (1 - 1/length, at least TRANSCRIBED_MIN)."""
        targets, deletes = self._latin_sounds
        positions = frozenset(span)
        out: list[tuple[float, int, frozenset[int]]] = []
        for cls in soundclass.han_classes([phonetic.readings(units[i])[0] for i in span]):
            if len(cls) < SOUND_MIN:
                continue
            exact = targets.get(cls)
            if exact:
                out += [(1.0, idx, positions) for idx in exact]
                continue
            if len(cls) < FUZZY_SOUND_LEN - 1:
                continue
            near = {key for variant in self.deletes(cls) for key in deletes.get(variant, ())}
            for key in near:
                sim = 1.0 - 1 / max(len(cls), len(key))
                if sim >= TRANSCRIBED_MIN and Levenshtein.distance(cls, key, score_cutoff=1) <= 1:
                    out += [(sim, idx, positions) for idx in targets[key]]
        return out

    def faint(self, rec: AliasRecord, best: Best, content: frozenset[int]) -> bool:
        """True when a sound-alike record was reached by too little: fewer than MIN_HEARD
        consonants ("بين", between, is "Bin" of Cai Bin) in a message that says more. A
        function word completing a name ("ما بين": Ma Bin?) adds none."""
        found = [t for t in rec.tokens if t in best and best[t][1] & content]
        if any(t[0] == phonetic.PINYIN_MARK for t in found) or \
                sum(len(t) - 1 for t in found) >= phonetic.MIN_HEARD:
            return False
        return bool(content.difference(*(best[t][1] for t in rec.tokens if t in best)))


__all__ = ["HeardNames", "PHONETIC_SIM", "Best"]
