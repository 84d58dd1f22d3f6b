"""The match index: every alias of every entry, built once per knowledge version.

How a message is matched (and why it is fast at 10,000 doctors):
1. The message is tokenised (:mod:`bot.core.normalize`); stopwords are marked, not removed,
   so positions stay those of the message. Query tokens are the content words, each pair of
   adjacent content words written together ("li jin bao" -> "jinbao") and, for Chinese,
   every pair of adjacent characters (bigrams), so no word segmentation is needed.
2. Each query token is looked up in the alias vocabulary: exactly (dict), and within one
   edit (a swap of two letters counts as one) through a symmetric-delete table (SymSpell)
   verified with rapidfuzz's OSA distance, so "brinni" finds "brini" and "htomas" finds
   "thomas" without scoring every alias.
3. Only aliases that share a token with the message are scored: an alias's score is the
   share of its (idf-weighted) tokens present in the message; a description (a person's
   role, a talk's title) is scored by the share of the message's content words it explains.
4. A mention whose words are all inside a longer, as good mention is dropped
   ("hemorrhage" inside "postpartum hemorrhage").
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from rapidfuzz.distance import OSA

from bot.knowledge.refs import CUE_PREFIX, key_kind

from . import phonetic
from .heard import Best, HeardNames
from .normalize import is_han, normalize, tokenize
from .normalize import units as split_units

MENTION_MIN = 0.75       # share of an alias's weight that must be in the message
NEAR_MIN = 0.40          # below a mention, still offered as "did you mean"
DESCRIPTION_MIN = 0.60   # share of the message's content words a description must explain
DESCRIPTION_FACTOR = 0.8  # a description match is never as sure as a name
DESCRIPTION_PREFILTER = 0.2  # share of a description's weight below which it cannot qualify
SUBSUME_MARGIN = 0.10
FREQUENT_MIN = 50        # a token in more aliases than max(FREQUENT_MIN, aliases / 500)
FREQUENT_SHARE = 500     # only adds to candidates that rarer tokens found
FUZZY_MIN_LEN = 5          # shorter words are matched exactly ("cost" is not "host")
FUZZY_MIN_SIM = 0.8
STOP_WEIGHT = 0.3          # a stopword inside a person's name ("Du", "Ma", "Said") counts less
NAME, CUE, DESCRIPTION = 0, 1, 2   # kinds of alias record
MAX_NEAR = 6               # did-you-mean candidates kept per message
SHORT_ALIAS = 3            # a one-word alias this short ("Fan", "Li") needs a short message
LOOKUP_CACHE = 50_000     # distinct message tokens remembered
# shares are compared rounded to 6 decimals (ROUNDING): a raw share this far inside a
# threshold is on the same side rounded, so analyse() skips rounding it
ROUNDING = 6
_MARGIN = 2e-6
_PREFILTER_RAW, _PREFILTER_SURE = DESCRIPTION_PREFILTER - _MARGIN, DESCRIPTION_PREFILTER + _MARGIN
_NEAR_RAW, _MENTION_RAW = NEAR_MIN + _MARGIN, MENTION_MIN - _MARGIN


class AliasRecord(NamedTuple):
    """One alias of one entry: ``key`` is "kind:id" (e.g. "person:cai-bin", "cue:doctor").

    A named tuple rather than a dataclass: an index holds one per alias (100,000 at
    10,000 doctors) and a tuple is made three times faster.
    """

    key: str
    text: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    total: float
    description: bool
    heard: bool = False

    @property
    def kind_of_entry(self) -> str:
        """The entry kind of the key ("person", "cue", "topic"...)."""
        return key_kind(self.key)


class Mention(NamedTuple):
    """An entry (or cue) found in a message (a named tuple: a message makes a dozen).

    Attributes:
        key: "kind:id" of the entry.
        alias: the alias text (as written in the YAML) that matched best.
        score: 0..1, how completely the alias was found (1.0 = every word, exactly).
        positions: indexes of the message units the match covers.
        description: True when found through a description, not a name or alias.
        heard: the message's words, when the name was matched by sound from another
            script ("徐先明" for Xu Xianming); "" otherwise.
    """

    key: str
    alias: str
    score: float
    positions: frozenset[int]
    description: bool = False
    heard: str = ""

    @property
    def kind(self) -> str:
        """The entry kind: the part of ``key`` before the colon."""
        return key_kind(self.key)


@dataclass
class Analysis:
    """What the index found in one message.

    Attributes:
        units: the message's units (:func:`bot.core.normalize.tokenize`).
        content: positions of units that are not stopwords.
        mentions: entry mentions, best per entry, longest and best first.
        cues: cue name ("doctor", "speakers", ...) -> its mention.
        near: partial matches below the mention threshold, best first (did-you-mean);
            worked out on first use, since most answers never need it.
        held: names found whole but held back as near, best first: a lone short name in
            a longer message ("li" in "who is li na"), a name of function words.
    """

    units: list[str]
    content: frozenset[int]
    mentions: list[Mention] = field(default_factory=list)
    cues: dict[str, Mention] = field(default_factory=dict)
    held: list[Mention] = field(default_factory=list)
    _near: Callable[[], list[Mention]] | None = field(default=None, repr=False)

    @cached_property
    def near(self) -> list[Mention]:
        """Partial matches, best first, one per entry (at most MAX_NEAR)."""
        return self._near() if self._near else []

    def explained(self, used: list[Mention], weak: frozenset[int] = frozenset()) -> float:
        """Share (0..1) of the message's content units covered by ``used`` and the cues;
        a unit at a ``weak`` position (a word true of the whole forum: "Settat",
        "hospital") that nothing covers counts half: it fits the question without
        saying what is asked."""
        if not self.content:
            return 1.0
        covered: set[int] = set()
        for m in [*used, *self.cues.values()]:
            covered |= m.positions
        words = {self.units[i] for i in covered}  # a repeated word is explained everywhere
        said = sum(1.0 if self.units[i] in words else 0.5 if i in weak else 0.0
                   for i in self.content)
        return said / len(self.content)


def _deletes(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1:] for i in range(len(word)))}


def _fuzzy(token: str) -> bool:
    return len(token) >= FUZZY_MIN_LEN and not any(ch.isdigit() for ch in token) \
        and not is_han(token[0])


def alias_tokens(units: list[str], stopwords: frozenset[str],
                 keep_stopwords: bool = False) -> list[str]:
    """Matching tokens of an alias: its content words, and bigrams of its Chinese runs.

    Args:
        units: tokenised alias; stopwords: the vocabulary's stopwords (all languages);
        keep_stopwords: keep them (a person's name: "Du Xueling", "Ziani Said").
    Returns:
        distinct tokens in order (an alias of only stopwords keeps its words).
    """
    if all(u.isascii() for u in units):  # no Chinese run: the common case, kept fast
        tokens = units if keep_stopwords else [u for u in units if u not in stopwords]
        return list(dict.fromkeys(tokens or units))
    tokens = []
    run: list[str] = []

    def flush() -> None:
        if len(run) == 1:
            tokens.append(run[0])
        tokens.extend(a + b for a, b in zip(run, run[1:]))
        run.clear()

    for unit in units:
        if is_han(unit[0]):
            run.append(unit)
            continue
        flush()
        if keep_stopwords or unit not in stopwords:
            tokens.append(unit)
    flush()
    if not tokens:
        tokens = [u for u in units if not is_han(u[0])]
    return list(dict.fromkeys(tokens))


class MatchIndex:
    """Alias index over (key, alias text, is_description) triples.

    Args:
        aliases: iterable of ``(key, text, description)``; key is "kind:id".
        stopwords: words (any language, already normalised) that carry no meaning; Chinese
            stopwords may be several characters long.
        variants: normalised word -> canonical spelling, applied before matching.
        name_kinds: kinds whose names keep their stopwords (at STOP_WEIGHT): "person".
    Attributes (besides the lookup tables):
        name_words: every unit of the names and aliases of ``name_kinds`` entries.
        other_words: every token of the aliases of other entries and of cues ("hospital"
            next to a surname is no given name).
        heard_postings: the sound-alike forms of Latin names (pinyin "@xu-xian-ming",
            consonant skeletons "#jhn", "#k" for a name word of one consonant), apart from
            ``postings``: only a message with Han or Arabic script reaches them, so they
            cost Latin messages nothing.
        heard: the search of names written in another script (:mod:`bot.core.heard`).
    Build cost is linear in the number of aliases; benchmarks/bench_matcher.py measures it.
    """

    def __init__(self, aliases: Iterable[tuple[str, str, bool]], stopwords: set[str],
                 variants: dict[str, str], name_kinds: tuple[str, ...] = ("person",)):
        self.variants = dict(variants)
        self.han_variants = sorted(((v, c) for v, c in self.variants.items()
                                    if v and all(is_han(ch) for ch in v)),
                                   key=lambda vc: -len(vc[0]))
        self.stopwords = frozenset(w for w in stopwords if not is_han(w[0]))
        self.han_stopwords = tuple(sorted((w for w in stopwords if is_han(w[0])), key=len,
                                          reverse=True))
        raw: list[tuple[str, str, list[str], bool]] = []
        df: dict[str, int] = defaultdict(int)
        seen: set[tuple[str, tuple[str, ...], bool]] = set()
        self.phrases: list[tuple[str, str, tuple[str, ...]]] = []
        # sound-alike forms of Latin names (pinyin, consonant skeletons): kept apart from
        # the alias records, since only a message in Han or Arabic script can reach them
        heard_raw: list[tuple[str, str, tuple[str, ...]]] = []
        heard_df: dict[str, int] = defaultdict(int)
        heard_seen: set[tuple[str, tuple[str, ...]]] = set()
        spaced: set[tuple[str, str]] = set()  # (key, words joined) of names of 2+ words
        latin_words: set[str] = set()  # every word of a Latin person name
        name_words: set[str] = set()
        other_words: set[str] = set()
        # skeleton token -> vowel places of the Latin name words that have it
        self.skeleton_vowels: dict[str, set[frozenset[int]]] = {}

        for key, text, description in aliases:
            units = self.units(text)
            person = key_kind(key) in name_kinds
            name = person and not description
            if units and not name and all(u in self.stopwords for u in units):
                # "who are you": only stopwords, so matched as a whole phrase
                self.phrases.append((key, text, tuple(units)))
                continue
            toks = alias_tokens(units, self.stopwords, keep_stopwords=name)
            if toks and (key, tuple(toks), description) not in seen:
                seen.add((key, tuple(toks), description))
                raw.append((key, text, toks, description))
                for t in toks:
                    df[t] += 1
                if not person:
                    other_words.update(toks)
            if name:
                name_words.update(units)
            if name and text.isascii():
                joined = "".join(units)
                if len(units) > 1:
                    spaced.add((key, joined))
                elif (key, joined) in spaced:
                    continue  # "qinjing", derived from "Qin Jing": sounds the same
                latin_words.update(units)
                for sounds in _sound_alike(units):
                    if (key, sounds) not in heard_seen:
                        heard_seen.add((key, sounds))
                        heard_raw.append((key, text, sounds))
                        for t in sounds:
                            heard_df[t] += 1
        self.name_words = frozenset(name_words)
        self.other_words = frozenset(other_words)
        for word in latin_words:
            skeleton, slots = phonetic.latin_shape(word)
            token = phonetic.skeleton_token(skeleton)
            if token:
                self.skeleton_vowels.setdefault(token, set()).add(slots)
        n = max(len(raw), 1)
        self.idf = {t: 1.0 + math.log(n / c) for t, c in df.items()}
        records: list[AliasRecord] = []
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for key, text, toks, description in raw:
            weights = tuple(self.idf[t] * (STOP_WEIGHT if t in self.stopwords else 1.0)
                            for t in toks)
            idx = len(records)
            records.append(AliasRecord(key, text, tuple(toks), weights, sum(weights),
                                       description))
            for t, w in zip(toks, weights):
                postings[t].append((idx, w))
        self.postings = dict(postings)
        # the sound-alike records follow the alias records (same numbering, own postings)
        heard_postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        heard_idf = {t: 1.0 + math.log(n / c) for t, c in heard_df.items()}
        for key, text, sounds in heard_raw:
            weights = tuple(heard_idf[t] for t in sounds)
            idx = len(records)
            records.append(AliasRecord(key, text, sounds, weights, sum(weights), False,
                                       heard=True))
            for t, w in zip(sounds, weights):
                heard_postings[t].append((idx, w))
        self.heard_postings = dict(heard_postings)
        self.heard_start = len(raw)  # records from here on are sound-alike forms
        self.records = records
        # flat per-record arrays for the hot loop of analyse()
        self._inverse_total = [1.0 / r.total for r in records]
        self._kind = [DESCRIPTION if r.description else CUE if r.key.startswith(CUE_PREFIX)
                      else NAME for r in records]
        self._cue_tokens = frozenset(t for t, posting in self.postings.items()
                                     if all(self._kind[i] == CUE for i, _ in posting))
        # thresholds count the alias records only: sound-alike forms do not make a
        # surname rarer
        self.frequent_df = max(FREQUENT_MIN, len(raw) // FREQUENT_SHARE)
        # deletion variant -> the one token that has it; the few variants several tokens
        # share are in deletes_shared (a list per variant for all would double the build)
        self.deletes: dict[str, str] = {}
        self.deletes_shared: dict[str, list[str]] = defaultdict(list)
        for token in self.postings:
            if _fuzzy(token):
                for variant in _deletes(token):
                    if self.deletes.setdefault(variant, token) is not token:
                        self.deletes_shared[variant].append(token)
        self._lookups: dict[str, list[tuple[str, float]]] = {}
        self._frequent: dict[str, dict[int, float]] = {}
        self.known_words = frozenset(self.postings) | self.stopwords
        self._phrase_starts: dict[str, list[int]] = defaultdict(list)
        for n, (_, _, words) in enumerate(self.phrases):
            self._phrase_starts[words[0]].append(n)
        self.pinyin_names = frozenset(t for t in self.heard_postings
                                      if t[0] == phonetic.PINYIN_MARK)
        self.pinyin_prefixes = frozenset(p for t in self.pinyin_names
                                         for p in phonetic.pinyin_prefixes(t))
        self.heard = HeardNames(self, _deletes)  # its tables are built on first use

    # -- message side -------------------------------------------------------------------
    def units(self, text: str) -> list[str]:
        """Return the matching units of ``text``: tokenised, spelling variants applied.

        A variant written in Chinese characters (塞达特 for Settat) is replaced in the
        normalised text before it is cut into one unit per character."""
        if self.han_variants and not text.isascii():
            norm = normalize(text)
            for variant, canon in self.han_variants:
                if variant in norm:
                    norm = norm.replace(variant, f" {canon} ")
            found = split_units(norm)
        else:
            found = tokenize(text)
        return [self.variants.get(u, u) for u in found]

    def _content(self, units: list[str]) -> frozenset[int]:
        stop = {i for i, u in enumerate(units) if u in self.stopwords}
        if all(u.isascii() for u in units):
            return frozenset(i for i in range(len(units)) if i not in stop)
        han = "".join(u if is_han(u[0]) else "\0" for u in units)
        for word in self.han_stopwords:
            start = han.find(word)
            while start != -1:
                stop.update(range(start, start + len(word)))
                start = han.find(word, start + len(word))
        return frozenset(i for i in range(len(units)) if i not in stop)

    def _query_tokens(self, units: list[str], content: frozenset[int]
                      ) -> Iterator[tuple[str, frozenset[int], bool]]:
        """Yield (token, positions, exact_only): content words, stopwords (exact only: they
        only occur in names), adjacent content words joined, Chinese bigrams."""
        words = [i for i in range(len(units)) if i in content and not is_han(units[i][0])]
        for i, unit in enumerate(units):
            if not is_han(unit[0]):
                yield unit, frozenset((i,)), i not in content
        for i, j in zip(words, words[1:]):
            joined = self.variants.get(units[i] + units[j], units[i] + units[j])
            yield joined, frozenset((i, j)), False
        for i in range(len(units)):
            if is_han(units[i][0]):
                nxt = i + 1 < len(units) and is_han(units[i + 1][0])
                prev = i > 0 and is_han(units[i - 1][0])
                if nxt:
                    yield units[i] + units[i + 1], frozenset((i, i + 1)), True
                elif not prev:
                    yield units[i], frozenset((i,)), True

    def _phrases(self, units: list[str]) -> list[Mention]:
        """Each phrase alias at its first place in the message, in the order of
        ``self.phrases``; only phrases starting with a word of the message are tried."""
        found: dict[int, Mention] = {}
        for i, unit in enumerate(units):
            for n in self._phrase_starts.get(unit, ()):
                key, text, words = self.phrases[n]
                if n not in found and tuple(units[i:i + len(words)]) == words:
                    found[n] = Mention(key, text, 1.0, frozenset(range(i, i + len(words))))
        return [found[n] for n in sorted(found)]

    def lookup(self, token: str) -> list[tuple[str, float]]:
        """Return vocabulary tokens equal or close to ``token`` with a similarity in 0..1.

        The token itself when in the vocabulary (1.0), and, from five letters, tokens one
        edit away (insertion, deletion, substitution or swap of neighbours) whose
        normalised similarity is at least 0.8: aliases may hold misspellings, so a correct
        spelling must still reach them and the reverse. Cached per token.
        """
        cached = self._lookups.get(token)
        if cached is not None:
            return cached
        found = [(token, 1.0)] if token in self.postings else []
        if _fuzzy(token):
            candidates: set[str] = set()
            for variant in _deletes(token):
                single = self.deletes.get(variant)
                if single is not None:
                    candidates.add(single)
                    candidates.update(self.deletes_shared.get(variant, ()))
            candidates.discard(token)
            for cand in candidates:
                if OSA.distance(token, cand, score_cutoff=1) <= 1:
                    sim = 1.0 - 1 / max(len(token), len(cand))
                    if sim >= FUZZY_MIN_SIM:
                        found.append((cand, sim))
        if len(self._lookups) >= LOOKUP_CACHE:
            self._lookups.clear()
        self._lookups[token] = found
        return found

    def analyse(self, text: str) -> Analysis:
        """Find every entry and cue mentioned in ``text`` (any str; never raises)."""
        units = self.units(text)
        content = self._content(units)
        analysis = Analysis(units, content)
        best: dict[str, tuple[float, frozenset[int]]] = {}
        for token, positions, exact_only in self._query_tokens(units, content):
            if exact_only:
                hits = [(token, 1.0)] if token in self.postings else []
            else:
                hits = self.lookup(token)
            for vocab, sim in hits:
                old = best.get(vocab)
                if old is None or sim > old[0]:
                    best[vocab] = (sim, positions)
        if not "".join(units).isascii():
            for i, unit in enumerate(units):
                # a one-character cue inside a run of characters ("讲" in "医生讲的"):
                # bigrams alone would never find it
                if unit in self._cue_tokens and is_han(unit[0]) and unit not in best:
                    best[unit] = (1.0, frozenset((i,)))
            weak = self.heard.find(units, content, best)
        else:
            weak = frozenset()
        phrases = self._phrases(units)
        if not best and not phrases:
            return analysis
        acc, common = self._accumulate(best, weak)
        if common and not self._named(acc):
            # the rare words alone named nothing ("preeclampsia in home births", every
            # word shared by a hundred talks; a rare typo's neighbour found instead): let
            # the rarest common word search too
            self._widen(acc, best, common)
        scored: dict[str, Mention] = {}
        near: list[tuple[float, int]] = []
        held: list[tuple[float, int]] = []
        descriptions = []
        above: dict[str, list[tuple[float, int]]] = defaultdict(list)
        records, inverse, kinds = self.records, self._inverse_total, self._kind
        add_near = near.append
        for idx, total in acc.items():
            raw = total * inverse[idx]
            if raw < _PREFILTER_RAW:  # rounding could not lift it to the prefilter
                continue
            if idx >= self.heard_start and self.heard.faint(records[idx], best, content):
                continue
            kind = kinds[idx]
            if kind == NAME and _NEAR_RAW <= raw < _MENTION_RAW:
                # most candidates (80 a message at 10,000 doctors): near whatever the
                # rounding; _near_mentions rounds only the few it may keep
                add_near((raw, idx))
                continue
            if kind == DESCRIPTION and raw >= _PREFILTER_SURE:
                descriptions.append(records[idx])  # its score is not used: no rounding
                continue
            score = round(raw, ROUNDING)  # 0.9999999999 is a full match too
            if score < DESCRIPTION_PREFILTER:
                continue
            if kind == NAME and NEAR_MIN <= score < MENTION_MIN:
                add_near((score, idx))
            elif kind == DESCRIPTION:
                descriptions.append(records[idx])
            elif score >= MENTION_MIN:
                above[records[idx].key].append((score, idx))
        for key, accepted in above.items():
            # per entry, only its best acceptable alias (for a cue, every alias) is a Mention
            accepted.sort(key=lambda f: (f[0], len(records[f[1]].tokens)), reverse=True)
            for score, idx in accepted:
                if self._mention(records[idx], score, best, content, scored, held, idx, units) and \
                        not key.startswith(CUE_PREFIX):
                    break
        for m in phrases:
            if _better(m, scored.get(m.key)):
                scored[m.key] = m
        cues = {k[len(CUE_PREFIX):]: m for k, m in scored.items() if k.startswith(CUE_PREFIX)}
        analysis.cues = cues
        cue_positions = frozenset().union(*(m.positions for m in cues.values()))
        asked = content - cue_positions
        named = frozenset().union(*(m.positions for k, m in scored.items()
                                    if not k.startswith(CUE_PREFIX)))
        if asked <= named:
            descriptions = []  # names already explain every word: no role or title needed
        for rec in descriptions:
            if len(best.keys() & rec.tokens) < 2:  # its tokens are distinct
                continue
            words = self._positions(rec, best) & asked
            if len(words) < 2 or not asked:
                continue
            share = len(words) / len(asked)
            if share >= DESCRIPTION_MIN:
                mention = Mention(rec.key, rec.text, round(DESCRIPTION_FACTOR * share, 4),
                                  frozenset(words), True)
                if _better(mention, scored.get(rec.key)):
                    scored[rec.key] = mention
        entries = [m for k, m in scored.items() if not k.startswith(CUE_PREFIX)]
        analysis.mentions = _drop_subsumed(entries)
        found = {m.key for m in analysis.mentions}
        if held:
            analysis.held = self._near_mentions(held, best, found)
        near += held
        analysis._near = lambda: self._near_mentions(near, best, found)
        return analysis

    def _mention(self, rec: AliasRecord, score: float, best: Best, content: frozenset[int],
                 scored: dict[str, Mention], held: list[tuple[float, int]], idx: int,
                 units: list[str]) -> bool:
        """Record a matched alias in ``scored`` and return True; or in ``held`` and return
        False when it is a lone short name in a longer message ("I am a big fan of this
        forum" is not about Fan Xiaosheng)."""
        if not rec.key.startswith(CUE_PREFIX) and (
                (len(rec.tokens) == 1 and len(rec.tokens[0]) <= SHORT_ALIAS and not rec.heard
                 and len(content) > 2 and rec.tokens[0].isascii()
                 and key_kind(rec.key) == "person")
                or self._function_words_only(rec, best, content, units)):
            held.append((score, idx))
            return False
        positions = self._positions(rec, best)
        heard = _written(units, positions) if rec.heard else ""
        mention = Mention(rec.key, rec.text, round(score, 4), positions, heard=heard)
        old = scored.get(rec.key)
        if rec.key.startswith(CUE_PREFIX) and old is not None:
            # a cue is one thing however many of its words are used ("doctor directory")
            top = max(old, mention, key=lambda m: m.score)
            scored[rec.key] = Mention(rec.key, top.alias, top.score,
                                      old.positions | mention.positions)
        elif _better(mention, old):
            scored[rec.key] = mention
        return True

    def _function_words_only(self, rec: AliasRecord, best: Best, content: frozenset[int],
                             units: list[str]) -> bool:
        """True when a name alias made only of function words ("Li" is Darija "who/that",
        "He", "Ma") meets a message that says more than the name: other content words
        than cue words ("chkoun li hder 3la lbnj" is not about Li Jinbao)."""
        if not all(t in self.stopwords for t in rec.tokens):
            return False
        mine = self._positions(rec, best)
        return any(i not in mine and units[i] not in self._cue_tokens for i in content)

    def _accumulate(self, best: Best, weak: frozenset[str] = frozenset()
                    ) -> tuple[dict[int, float], list[str]]:
        """Sum, per alias record, the weights of its tokens found in the message.

        Tokens in more than ``frequent_df`` aliases (common surnames, "hospital") do not
        generate candidates of their own, only add to those the rarer tokens found; when
        only cue words are rare, the rarest frequent token generates too, so a message of
        common words still finds its entry. ``weak`` tokens (a name word of one consonant
        heard from Arabic, "كاي" for Cai) never generate. Returns the sums and the
        frequent tokens that did not generate, rarest first (for :meth:`_widen`).
        """
        postings = {v: self.postings.get(v) or self.heard_postings[v] for v in best}
        rare = [v for v in best if len(postings[v]) <= self.frequent_df and v not in weak]
        frequent = sorted((v for v in best if len(postings[v]) > self.frequent_df
                           and v not in weak), key=lambda v: len(postings[v]))
        promoted = bool(frequent) and all(v in self._cue_tokens for v in rare)
        if promoted:
            rare += frequent[:1]
            frequent = frequent[1:]
        acc: dict[int, float] = defaultdict(float)
        for vocab in rare:
            sim = best[vocab][0]
            for idx, weight in postings[vocab]:
                acc[idx] += weight * sim
        self._add_frequent(acc, best, frequent)
        if weak:
            self._add_frequent(acc, best, sorted(weak & best.keys()))
        return acc, [] if promoted else frequent

    def _add_frequent(self, acc: dict[int, float], best: Best, frequent: list[str]) -> None:
        """Add the weights of ``frequent`` tokens to the records already in ``acc``."""
        for vocab in frequent:
            sim = best[vocab][0]
            weights = self._frequent_weights(vocab)
            for idx in acc.keys() & weights.keys():  # set intersection, in C
                acc[idx] += weights[idx] * sim

    def _widen(self, acc: dict[int, float], best: Best, frequent: list[str]) -> None:
        """Let the rarest of the ``frequent`` tokens generate candidates too: add to
        ``acc`` the records it reaches that the rare tokens did not (with the other
        frequent tokens' weights); the records already there have its weight already."""
        first, rest = frequent[0], frequent[1:]
        sim = best[first][0]
        found = {idx: weight * sim for idx, weight in self._posting(first) if idx not in acc}
        self._add_frequent(found, best, rest)
        acc.update(found)

    def _frequent_weights(self, vocab: str) -> dict[int, float]:
        """Posting of a frequent token as record -> weight, built on first use."""
        weights = self._frequent.get(vocab)
        if weights is None:
            weights = self._frequent[vocab] = dict(self._posting(vocab))
        return weights

    def _posting(self, token: str) -> list[tuple[int, float]]:
        """(record, weight) pairs of a token: an alias word, or a sound-alike form."""
        found = self.postings.get(token)
        return found if found is not None else self.heard_postings[token]

    def _named(self, acc: dict[int, float]) -> bool:
        """True when some name or alias (not a cue, not a description) is a mention."""
        inverse, kinds = self._inverse_total, self._kind
        return any(kinds[i] == NAME and total * inverse[i] >= MENTION_MIN
                   for i, total in acc.items())

    def _positions(self, rec: AliasRecord, best: Best) -> frozenset[int]:
        return frozenset().union(*[best[t][1] for t in rec.tokens if t in best])

    def _near_mentions(self, near: list[tuple[float, int]], best: Best, found: set[str]
                       ) -> list[Mention]:
        """The best partial matches, one per entry, for "did you mean"."""
        out: dict[str, Mention] = {}
        for score, idx in _best_rounded(near, MAX_NEAR * 3):
            rec = self.records[idx]
            if rec.key not in found and rec.key not in out:
                out[rec.key] = Mention(rec.key, rec.text, round(score, 4),
                                       self._positions(rec, best))
                if len(out) == MAX_NEAR:
                    break
        return list(out.values())


def _best_rounded(near: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    """The ``n`` best (share, record) pairs, best first, with each share rounded to
    ROUNDING decimals: ``sorted(rounded pairs, reverse=True)[:n]``, rounding only the pairs
    within _MARGIN of the n-th best raw share (rounding keeps order, so no other pair can
    rank among the n; a share already rounded stays as it is)."""
    ranked = sorted(near, reverse=True)  # one sort in C (heapq.nlargest is slower here)
    if len(ranked) > n:
        floor = ranked[n - 1][0] - _MARGIN
        end = n
        while end < len(ranked) and ranked[end][0] >= floor:
            end += 1
        ranked = ranked[:end]
    return sorted(((round(s, ROUNDING), i) for s, i in ranked), reverse=True)[:n]


def _sound_alike(units: list[str]) -> list[tuple[str, ...]]:
    """Sound-alike tokens of a Latin person name: its pinyin (when every word is pinyin)
    and the consonant skeletons of its words (sorted: word order does not matter)."""
    out: list[tuple[str, ...]] = []
    token = phonetic.pinyin_token(units)
    if token:
        out.append((token,))
    skeletons = {s for s in map(phonetic.word_skeleton, units) if s}
    # a word of one consonant ("Cai" -> "#k") names nobody alone, but counts beside the
    # others: "كاي بين" is all of Cai Bin, not "Bin" and an unknown word
    if not all(map(phonetic.is_companion, skeletons)):
        out.append(tuple(sorted(skeletons)))
    return out


def _written(units: list[str], positions: frozenset[int]) -> str:
    """The message's words at ``positions``, as written (Chinese characters joined)."""
    words = [units[i] for i in sorted(positions)]
    if all(is_han(w[0]) for w in words):
        return "".join(words)
    return " ".join(words)


def _better(new: Mention, old: Mention | None) -> bool:
    if old is None:
        return True
    return (new.score, len(new.positions)) > (old.score, len(old.positions))


def _drop_subsumed(mentions: list[Mention]) -> list[Mention]:
    """Drop a mention whose words lie strictly inside another, at least as good, mention."""
    ordered = sorted(mentions, key=lambda m: (-len(m.positions), -m.score, m.key))
    kept: list[Mention] = []
    for m in ordered:
        if any(m.positions < k.positions and k.score >= m.score - SUBSUME_MARGIN for k in kept):
            continue
        kept.append(m)
    return kept


__all__ = ["MatchIndex", "Mention", "Analysis", "AliasRecord", "alias_tokens"]
