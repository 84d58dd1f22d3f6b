"""Replies in the user's language: interface strings from the gettext catalogs, knowledge
text in the language where the YAML has it (English otherwise), the user's choice first."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.core.types import Message
from bot.i18n import LOCALES, SUPPORTED, isolate_ltr

ROOT = Path(__file__).resolve().parent.parent

# (message, language) -> words the reply must contain, per intent, in that language
CASES = {
    "greeting": {"en": ("hello", "Hello! I am Summit Assistant"),
                 "fr": ("bonjour", "Bonjour ! Je suis Summit Assistant"),
                 "ar": ("مرحبا", "مرحبًا! أنا"),
                 "zh": ("你好", "您好！我是")},
    "help": {"en": ("help", "I answer questions about the forum"),
             "fr": ("aide", "Je réponds aux questions sur le forum"),
             "ar": ("مساعدة", "أجيب عن الأسئلة حول المنتدى"),
             "zh": ("帮助", "我可以用英文、法文、阿拉伯文或中文")},
    "fallback": {"en": ("how do I reset my router", "Sorry, I found nothing about that"),
                 "fr": ("comment réparer mon vélo", "Désolé, je n'ai rien trouvé"),
                 "ar": ("كيف أصلح سيارتي", "عذرًا، لم أجد شيئًا"),
                 "zh": ("怎么修自行车", "抱歉，没有找到相关内容")},
    "emergency": {"en": ("my wife is bleeding heavily", "This may be an emergency"),
                  "fr": ("ma femme saigne beaucoup", "Il peut s'agir d'une urgence"),
                  "ar": ("زوجتي تنزف بغزارة", "قد تكون هذه حالة طارئة"),
                  "zh": ("我老婆大出血", "这可能是紧急情况")},
    "event": {"en": ("who organised the forum", "jointly organised"),
              "fr": ("qui a organisé le forum", "Sedat"),
              "ar": ("من نظم المنتدى", "Shanghai General Hospital"),
              "zh": ("论坛主办方是谁", "Shanghai General Hospital")},
    "session": {"en": ("who spoke about preeclampsia", "was covered by this talk"),
                "fr": ("qui a parlé de la prééclampsie", "a été traité dans cette intervention"),
                "ar": ("من تحدث عن تسمم الحمل", "تناولت هذه المحاضرة"),
                "zh": ("谁讲了子痫前期", "论坛上讲到")},
    "speaker": {"en": ("who is cai bin", "Talk subject:"),
                "fr": ("qui est cai bin", "Sujet de l'intervention :"),
                "ar": ("من هو cai bin", "موضوع المحاضرة:"),
                "zh": ("cai bin是谁", "报告主题：")},
    "doctor": {"en": ("I need to find an anesthesiologist", "Find a Doctor: 1 clinician."),
               "fr": ("je cherche un anesthésiste", "Trouver un médecin : 1 soignant."),
               "ar": ("أبحث عن طبيب تخدير", "ابحث عن طبيب: مقدم رعاية واحد."),
               "zh": ("我要找麻醉医生", "查找医生：1 位医护人员。")},
}


@pytest.mark.parametrize("intent,lang", [(i, lang) for i in CASES for lang in SUPPORTED])
def test_each_intent_is_answered_in_the_language_of_the_question(ask, intent, lang):
    question, expected = CASES[intent][lang]
    reply = ask(question)
    assert reply.lang == lang
    assert reply.intent == intent
    assert expected in reply.text


def test_french_knowledge_text_is_used_where_the_yaml_has_it(ask):
    reply = ask("qui a parlé de l'hémorragie du post-partum")
    assert "Le docteur Cai Bin a partagé son expérience" in reply.text
    assert "prise en charge" in reply.text.lower()


def test_chinese_answer_without_chinese_knowledge_text_falls_back_to_english(ask):
    reply = ask("谁讲了产后出血")
    assert "\n论坛上讲到产后出血的报告：\n" in reply.text
    assert "Dr. Cai Bin shared his experience" in reply.text


def test_a_stored_preference_wins_over_detection(assistant):
    reply = assistant.reply(Message("who is cai bin", lang="fr"))
    assert reply.lang == "fr" and "Sujet de l'intervention" in reply.text
    choice = assistant.choose("list:doctors", "zh")
    assert choice.text.startswith("“查找医生”收录了")


def test_arabic_replies_isolate_latin_names_and_numbers(ask):
    reply = ask("من هو Cai Bin")
    assert "\u2068Cai Bin\u2069" in reply.text
    assert isolate_ltr("اتصل 141 (SAMU)") == "اتصل \u2068141\u2069 (\u2068SAMU\u2069)"


def test_every_interface_string_is_translated_in_every_catalog():
    in_code = {found[2] for found in extract_from_dir(
        str(ROOT / "bot"), method_map=[("**.py", "python")], keywords={"_": None})}
    assert len(in_code) > 50
    for lang in SUPPORTED[1:]:
        with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        assert in_code - translated == set(), f"{lang}: untranslated strings"
        for m in catalog:  # placeholders survive translation
            if m.id and m.string:
                assert sorted(_fields(m.id)) == sorted(_fields(m.string)), (lang, m.id)


def _fields(text: str) -> list[str]:
    import string
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def test_the_suggested_example_questions_are_answered_in_their_language(ask, knowledge):
    for lang, questions in knowledge.vocabulary.examples.items():
        for question in questions:
            reply = ask(question)
            assert reply.intent not in ("fallback", "emergency"), question
            assert reply.lang == lang, question
