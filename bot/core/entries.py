"""What the match index is built from: every alias of every knowledge entry, as plain triples.

Names and aliases identify an entry on their own; descriptions (a person's role and
institution, a talk's title) only find it when they explain most of a message. Cue words
from the vocabulary are indexed under "cue:<name>" keys.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator

from bot.knowledge.models import LANGS, Knowledge, LocalizedMap, all_texts, text_in
from bot.knowledge.refs import cue_key

from .index import MatchIndex
from .normalize import is_han, tokenize


def alias_triples(k: Knowledge) -> Iterator[tuple[str, str, bool]]:
    """Yield ``(key, text, is_description)`` for every alias of every entry and cue."""
    for name in all_texts(k.event.name):
        yield str(k.event.ref), name, False
    for alias in k.event.aliases:
        yield str(k.event.ref), alias, False
    for fact in k.facts:
        for alias in fact.aliases:
            yield str(fact.ref), alias, False
    for person in k.people:
        key = str(person.ref)
        for alias in (person.name, *person.aliases):
            yield key, alias, False
            words = alias.split()
            if 2 <= len(words) <= 3 and alias.isascii():
                # "qinjing": a typo in a short syllable ("quin jing") still reaches the name
                yield key, "".join(words), False
        # role and institution in the same language: "Director of ... Shanghai General
        # Hospital", "上海市第一人民医院合作交流处处长 上海市第一人民医院"
        # (one language when neither is translated: most directory entries)
        langs = LANGS if any(isinstance(x, LocalizedMap)
                             for x in (person.role, person.institution)) else LANGS[:1]
        for described in dict.fromkeys(" ".join(x for x in (text_in(person.role, lang),
                                                            text_in(person.institution, lang))
                                                if x) for lang in langs):
            if described:
                yield key, described, True
    for talk in k.talks:
        for title in all_texts(talk.title):
            yield str(talk.ref), title, True
        for alias in talk.aliases:
            yield str(talk.ref), alias, False
    for topic in k.topics:
        for alias in (topic.name, *topic.names.all()):
            yield str(topic.ref), alias, False
    for sp in k.specialties:
        for alias in (sp.name, *sp.names.all()):
            yield str(sp.ref), alias, False
    for cue, words in k.vocabulary.cues.items():
        for word in words:
            yield cue_key(cue), word, False


def stopword_set(k: Knowledge) -> set[str]:
    """Return every stopword of every language, normalised like messages are."""
    out: set[str] = set()
    for words in k.vocabulary.stopwords.values():
        for word in words:
            units = tokenize(word)
            if units and all(is_han(u[0]) for u in units):
                out.add("".join(units))
            else:
                out.update(units)
    return out


def variant_map(k: Knowledge) -> dict[str, str]:
    """Return normalised spelling variant -> normalised canonical spelling (single words)."""
    out: dict[str, str] = {}
    for group in k.vocabulary.variants:
        canon = "".join(tokenize(group[0]))
        for word in group[1:]:
            out["".join(tokenize(word))] = canon
    return out


def build_index(k: Knowledge) -> MatchIndex:
    """Build the match index of a knowledge version (called once per version).

    The garbage collector is paused meanwhile: the build creates hundreds of thousands of
    objects that all stay alive, and collections would only scan them again and again.
    Afterwards they are frozen out of the collector's generations, so the collections that
    answering messages triggers do not scan the index either (an index holds no reference
    cycles: an old version is still freed by reference counting when it is replaced).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        index = MatchIndex(alias_triples(k), stopword_set(k), variant_map(k))
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return index
