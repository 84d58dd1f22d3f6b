"""Replies in the user's language: interface strings from the gettext catalogs, knowledge
text in the language where the YAML has it (English otherwise), the user's choice first."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from langcheck import reply_language

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
              "ar": ("من نظم المنتدى", "مستشفى شنغهاي العام"),
              "zh": ("论坛主办方是谁", "上海市第一人民医院")},
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


def test_knowledge_text_is_written_in_the_language_of_the_question(ask):
    reply = ask("谁讲了产后出血")
    assert "\n论坛上讲到产后出血的报告：\n" in reply.text
    assert "Cai Bin医生分享了处理不同类型和病因的产后出血的经验。" in reply.text
    ar = ask("من ترأس حفل الافتتاح؟")
    assert "ترأس حفل الافتتاح \u2068Liu Fang\u2069، مدير قسم التعاون والتبادل" in ar.text
    assert ask("qui est Qin Jing ?").text.startswith(
        "Qin Jing, Secrétaire du comité du Parti de l'Hôpital général de Shanghai.")
    assert ask("Qin Jing是谁？").text.startswith("Qin Jing，上海市第一人民医院党委书记。")


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
    found = list(extract_from_dir(str(ROOT / "bot"), method_map=[("**.py", "python")],
                                  keywords={"_": None, "N_": None, "ngettext": (1, 2)}))
    in_code = {f[2] if isinstance(f[2], str) else f[2][0] for f in found}
    assert len(in_code) > 50
    assert any(not isinstance(f[2], str) for f in found), "no plural string extracted"
    for lang in SUPPORTED[1:]:
        with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog
                      if m.id and m.string and all(m.string if isinstance(m.string, tuple)
                                                   else [m.string]) and not m.fuzzy}
        assert in_code - translated == set(), f"{lang}: untranslated strings"
        for m in catalog:  # placeholders survive translation
            if not (m.id and m.string):
                continue
            if isinstance(m.id, str):
                assert sorted(_fields(m.id)) == sorted(_fields(m.string)), (lang, m.id)
                continue
            assert len(m.string) == catalog.num_plurals, (lang, m.id)
            wanted = set(_fields(m.id[1]))
            for form in m.string:  # a form may leave the number out ("محاضرتان": two talks)
                assert set(_fields(form)) <= wanted, (lang, m.id, form)
            assert set(_fields(m.string[-1])) == wanted, (lang, m.id)


def _fields(text: str) -> list[str]:
    import string
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


# count -> the plural form each language uses for "Find a Doctor: {count} clinician(s)."
# (Babel's CLDR rules: Arabic zero/one/two/few 3-10/many 11-99/other; French: 0 and 1 alike)
PLURALS = {
    "en": {0: "Find a Doctor: 0 clinicians.", 1: "Find a Doctor: 1 clinician.",
           2: "Find a Doctor: 2 clinicians."},
    "fr": {0: "Trouver un médecin : 0 soignant.", 1: "Trouver un médecin : 1 soignant.",
           2: "Trouver un médecin : 2 soignants.", 1_000_000: "1\u202f000\u202f000 de soignants"},
    "ar": {0: "لا يوجد أي مقدم رعاية", 1: "مقدم رعاية واحد", 2: "مقدما رعاية اثنان",
           3: "3 مقدمي رعاية", 11: "11 مقدمَ رعاية", 100: "100 مقدمِ رعاية",
           103: "103 مقدمي رعاية"},
    "zh": {1: "查找医生：1 位医护人员。", 2: "查找医生：2 位医护人员。"},
}


@pytest.mark.parametrize("lang", SUPPORTED)
def test_counts_take_the_plural_form_of_the_language(lang):
    from bot.i18n import language, ngettext, number
    for count, expected in PLURALS[lang].items():
        with language(lang):
            text = ngettext("Find a Doctor: {count} clinician.",
                            "Find a Doctor: {count} clinicians.", count).format(
                count=number(count))
        assert expected in text, (lang, count, text)


def test_two_talks_in_arabic_are_a_dual_without_the_number(ask):
    reply = ask("من تحدث عن النزيف")  # hemorrhage: two talks cover it
    assert sum(i.startswith("talk:") for i in reply.ids) == 2
    assert "محاضرتان" in reply.text and "2 محاضرات" not in reply.text
    fr = ask("qui a parlé de l'hémorragie")
    assert "traité dans 2 interventions :" in fr.text


# message -> the language of its sentence (a quoted name or term does not decide it)
SENTENCES = {
    "who is الحمزاوي": "en",
    "Qui est le docteur الحمزاوي ?": "fr",
    "what did جيهان البريني present": "en",
    "من هو Cai Bin": "ar",
    "ما هو موضوع محاضرة Brini Jihane؟": "ar",
    "محاضرة Cai Bin": "ar",
    "Cai Bin 是谁？": "zh",
    "Xu Xianming 主任": "zh",
    "who spoke about 子痫前期": "en",
    "qui a parlé de 子痫前期 ?": "fr",
    # Arabic typed in presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF)
    "\ufee3\ufee6 \ufeeb\ufeee Cai Bin\u061f": "ar",
    "\ufee3\ufee6 \ufe97\ufea4\ufeaa\ufe9b \ufecb\ufee6 \ufe97\ufeb4\ufee4\ufee2 \ufe8d\ufedf\ufea4\ufee4\ufede": "ar",
    # Moroccan Darija in Latin letters, digits for Arabic sounds: answered in Arabic
    "chkoun li hder 3la preeclampsia": "ar",
    "bghit tbib dial tawlid f settat": "ar",
    "wach kayn chi tbiba f sbitar": "ar",
    "achno gal lmodir 3la nnzif": "ar",
    "hello, chkoun Cai Bin": "ar",
    "merci, wach kayn tbiba": "ar",
    "salam, qui est Cai Bin ?": "fr",
    # ordinals, lab names and names with "li" are not Darija
    "what happened on the 3rd day": "en",
    "who is li jinbao": "en",
    "covid19 and pregnancy": "en",
}


@pytest.mark.parametrize("text", SENTENCES)
def test_the_reply_language_is_the_language_of_the_sentence(ask, text):
    assert ask(text).lang == SENTENCES[text]


@pytest.mark.parametrize("text,lang", [("who is الحمزاوي", "en"),
                                       ("Qui est le docteur الحمزاوي ?", "fr"),
                                       ("chkoun li hder 3la preeclampsia", "ar")])
def test_a_quoted_name_or_darija_gets_a_reply_written_in_that_language(ask, text, lang):
    reply = ask(text)
    assert reply.intent in ("speaker", "session", "doctor")
    assert reply_language(reply.text) == lang, reply.text


def test_presentation_forms_are_matched_like_arabic_letters(ask):
    plain = ask("من هو الحمزاوي")
    shaped = ask("\ufee3\ufee6 \ufeeb\ufeee \ufe8d\ufedf\ufea4\ufee4\ufeb0\ufe8d\ufeed\ufef1")
    assert shaped.lang == "ar" and shaped.ids == plain.ids and "person:el-hamzaoui" in plain.ids


def test_choice_labels_are_in_the_reply_language(assistant):
    for lang, word in (("fr", "Gynécologie"), ("ar", "أمراض النساء"), ("zh", "妇产科")):
        reply = assistant.choose("list:doctors", lang)
        labels = [c.label for c in reply.choices]
        assert any(word in label for label in labels), labels
        assert all(reply_language(label + " " + label) in (lang, "en") for label in labels)
    fr = assistant.reply(Message("qui est cai bin", lang=None))
    assert [c.label for c in fr.choices] == ["Fiche « Trouver un médecin »", "Tous les intervenants"]
    talks = assistant.choose("list:sessions", "zh")
    assert all(reply_language(c.label) == "zh" for c in talks.choices), talks.choices


def test_the_suggested_example_questions_are_answered_in_their_language(ask, knowledge):
    for lang, questions in knowledge.vocabulary.examples.items():
        for question in questions:
            reply = ask(question)
            assert reply.intent not in ("fallback", "emergency"), question
            assert reply.lang == lang, question


async def test_the_telegram_command_menu_is_set_in_each_language(fake, assistant):
    from bot.channels.telegram.app import COMMANDS, build_application
    from bot.settings import Settings
    app = build_application(Settings(telegram_bot_token=fake.token,
                                     telegram_api_base_url=fake.base_url, database_url="",
                                     watch_knowledge=False), assistant)
    await app.initialize()
    try:
        await app.post_init(app)
    finally:
        await app.shutdown()
    default = json.dumps({"type": "default"}, sort_keys=True)
    menus = {lang: {c["command"]: c["description"] for c in fake.commands[(default, code)]}
             for lang, code in (("en", ""), ("fr", "fr"), ("ar", "ar"), ("zh", "zh"))}
    assert list(menus["en"]) == [name for name, _ in COMMANDS]
    assert menus["fr"]["emergency"] == "Numéros d'urgence"
    assert menus["ar"]["about"] == "عن المنتدى" and menus["zh"]["speakers"] == "论坛上的讲者"
    for lang in ("fr", "ar", "zh"):
        assert list(menus[lang]) == list(menus["en"])
        assert all(menus[lang][name] != menus["en"][name] for name in menus["en"])
    for lang in ("ar", "zh"):
        assert all(reply_language(text) == lang for text in menus[lang].values())


@pytest.mark.parametrize("text, lang", [
    ("and Li Jinbao?", "en"), ("Li Jinbao?", "en"), ("et Li Jinbao ?", "fr"),
    ("chkoun li hder 3la preeclampsia", "ar")])
def test_a_name_word_is_not_a_darija_word(ask, text, lang):
    """"li" is Darija's "who" and the surname of Li Jinbao: in a name it tells nothing."""
    assert ask(text).lang == lang
