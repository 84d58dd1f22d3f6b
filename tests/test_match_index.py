"""The match index at directory scale: common words, sound-alike name forms, typos.

Speed is benchmarks/bench_matcher.py's; these check what the index finds.
"""
from __future__ import annotations

import itertools

from bot.core.index import MatchIndex

TOPICS = ("preeclampsia", "anaemia")
POPULATIONS = ("home births", "preterm births")
SETTINGS = ("district hospitals", "rural clinics")


def _talks(copies: int) -> list[tuple[str, str, bool]]:
    """Talk aliases "<topic> in <population> at <setting>", each combination ``copies``
    times (so every word is in many aliases, a common word)."""
    combos = itertools.product(TOPICS, POPULATIONS, SETTINGS)
    return [(f"talk:t{i}-{n}", f"{t} in {p} at {s}", False)
            for i, (t, p, s) in enumerate(combos) for n in range(copies)]


def _index(aliases: list[tuple[str, str, bool]]) -> MatchIndex:
    return MatchIndex(aliases, {"in", "at", "who", "is"}, {})


def test_a_message_of_common_words_finds_its_entry_past_a_rare_near_namesake():
    # every word of the message is in 120 aliases; "births" is one typo from the rare
    # "birth" of a specialty, found first but only as a partial match
    index = _index([("specialty:obstetrics", "birth doctor", False), *_talks(30)])
    found = index.analyse("preeclampsia in home births at district hospitals")
    keys = {m.key for m in found.mentions if m.score == 1.0}
    assert keys == {f"talk:t0-{n}" for n in range(30)}


def test_sound_alike_forms_are_found_from_chinese_and_arabic_script_only():
    index = _index([("person:xu-xianming", "Xu Xianming", False),
                    ("person:brini-jihane", "Brini Jihane", False)])
    assert [m.key for m in index.analyse("徐先明").mentions] == ["person:xu-xianming"]
    assert [m.key for m in index.analyse("جيهان بريني").mentions] == ["person:brini-jihane"]
    # a Latin message is matched by its words, never by a pinyin or skeleton form
    assert index.analyse("jhn brn").mentions == []
    assert not any(t.startswith(("@", "#")) for t in index.postings)


def test_a_name_written_without_spaces_has_no_sound_alike_form_of_its_own():
    # "xuxianming" (derived for typos) sounds like "Xu Xianming": one pinyin form, and no
    # consonant skeleton of the joined word ("#ssnmng") that no Arabic spelling has ("Xu"
    # alone is one consonant: only a companion of the other word, "#s")
    index = _index([("person:xu-xianming", "Xu Xianming", False),
                    ("person:xu-xianming", "xuxianming", False)])
    assert set(index.heard_postings) == {"@xu-xian-ming", "#snmng", "#s"}
