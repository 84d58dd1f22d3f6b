"""The normaliser: examples per rule, and properties that hold for any text."""
from __future__ import annotations

import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.normalize import _FORMAT, is_han, normalize, simplified, tokenize


def test_case_accents_and_punctuation():
    assert normalize("Hémorragie du Post-Partum !") == "hemorragie du post partum"


def test_full_width_forms():
    assert normalize("ＣＡＩ　ＢＩＮ？") == "cai bin"


def test_possessive_and_french_elision():
    assert tokenize("Qin Jing's role") == ["qin", "jing", "role"]
    assert tokenize("l'anesthésie et d'hémorragie") == ["anesthesie", "et", "hemorragie"]
    assert tokenize("can't breathe") == ["cant", "breathe"]


def test_arabic_letter_variants_tatweel_diacritics_and_article():
    assert tokenize("مـرحـبـاً") == ["مرحبا"]
    assert tokenize("أإآ") == tokenize("ااا")
    assert tokenize("القابلة") == tokenize("قابله")
    assert tokenize("مستشفى") == ["مستشفي"]
    assert tokenize("٣٥") == ["35"]


def test_chinese_is_one_unit_per_character_without_spaces():
    assert tokenize("谁讲了产后出血？") == ["谁", "讲", "了", "产", "后", "出", "血"]
    assert tokenize("Cai Bin讲了") == ["cai", "bin", "讲", "了"]


INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", "\u061c"]


def test_invisible_format_characters_inside_words_are_removed_not_spaces():
    assert tokenize("my wife is blee\u200bding heavily") == \
        ["my", "wife", "is", "bleeding", "heavily"]
    assert tokenize("hémor\u00adragie") == ["hemorragie"]
    assert tokenize("\ufeffCai\u2060Bin") == ["caibin"]
    assert tokenize("نز\u200cيف") == tokenize("نزيف")
    assert tokenize("出\u200d血") == ["出", "血"]


def test_format_class_is_every_cf_character_of_this_python():
    cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert all(_FORMAT.fullmatch(ch) for ch in cf)
    assert not any(_FORMAT.fullmatch(ch) for ch in "a \u0627\u4e00\U0001f600-")


def test_traditional_chinese_normalises_like_simplified():
    assert normalize("誰講了產後出血") == normalize("谁讲了产后出血") == "谁讲了产后出血"
    assert tokenize("剛出生的寶寶嘴唇發紫") == tokenize("刚出生的宝宝嘴唇发紫")
    assert tokenize("Cai Bin講了產後出血嗎？") == tokenize("cai bin 讲了产后出血吗")
    assert normalize("薴") == normalize(normalize("薴"))  # converts in two steps: 薴 苧 苎


def test_chinese_conversion_leaves_other_text_alone():
    assert simplified("bleeding heavily, نزيف") == "bleeding heavily, نزيف"
    assert normalize("產\ud800後") == "产 后"  # a lone surrogate cannot reach OpenCC


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalized_text_has_no_marks_upper_case_or_edge_spaces(text):
    out = normalize(text)
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch).startswith("M") for ch in out)
    assert out == out.casefold() or not out.isascii()


@given(texts)
@settings(max_examples=300, deadline=None)
def test_tokens_are_non_empty_and_han_stands_alone(text):
    for unit in tokenize(text):
        assert unit and " " not in unit
        if any(is_han(ch) for ch in unit):
            assert len(unit) == 1


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàçô ", max_size=60))
@settings(max_examples=200, deadline=None)
def test_case_and_accents_never_change_the_tokens_of_latin_text(text):
    assert tokenize(text.upper()) == tokenize(text)
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(ch))
    assert tokenize(stripped) == tokenize(text)


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Lo")), min_size=1,
                max_size=12)


@given(st.lists(words, min_size=1, max_size=5), st.data())
@settings(max_examples=300, deadline=None)
def test_invisible_characters_anywhere_never_change_the_tokens(parts, data):
    text = " ".join(parts)
    spiked = "".join(ch + data.draw(st.sampled_from(["", *INVISIBLE]), label="cf")
                     for ch in text)
    assert tokenize(spiked) == tokenize(text)


han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


@given(st.text(alphabet=han, max_size=30))
@settings(max_examples=300, deadline=None)
def test_chinese_text_normalises_to_one_script_and_stays_there(text):
    once = normalize(text)
    assert normalize(once) == once
    assert simplified(once) == once
