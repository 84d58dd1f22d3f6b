"""JSON Schemas of the knowledge files, generated from the pydantic models.

One schema per knowledge file (``knowledge/schemas/<name>.schema.json``), shaped as the
whole file: a top-level object with the sections that file holds (``people.yaml`` ->
``{"people": [Person, ...]}``). Each YAML file names its schema on its first line::

    # yaml-language-server: $schema=schemas/people.schema.json

so an editor with a YAML language server (VS Code's YAML extension, for example) shows the
fields, their descriptions and mistakes while the admin types. The schemas are only a help
for editing: ``forumbot check`` (the loader) stays the judge.

Regenerate after changing :mod:`bot.knowledge.models`::

    python -m bot.knowledge.schema            # writes knowledge/schemas/*.schema.json
    python -m bot.knowledge.schema --check    # exit 1 when the written files are stale
    forumbot check --write-schemas            # the same, then checks the knowledge
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import GenericAlias
from typing import Any

from pydantic import ConfigDict, create_model

from .loader import LIST_SECTIONS, SINGLE_SECTIONS
from .tests import TestQuestion

SCHEMA_DIR = "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"

# knowledge file name (without .yaml) -> the sections it holds, and what it is for
FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "event": (("event", "facts"),
              "The forum itself (event) and the facts a user can ask about it (facts)."),
    "people": (("people",), "Every person the forum article names."),
    "programme": (("talks",), "The expert talks, in the order of the article."),
    "topics": (("topics",), "Clinical topics with synonyms and translations."),
    "doctors": (("specialties", "doctors"),
                "Find a Doctor: clinical specialties and the directory listings."),
    "emergency": (("emergency",), "Urgent-symptom rules and the emergency numbers."),
    "vocabulary": (("vocabulary", "translations"),
                   "General vocabulary: stopwords, spelling variants, cues; and how strictly "
                   "the knowledge must be translated."),
    "tests": (("tests",), "Test questions: what each question must get (forumbot test)."),
}
# sections of files the knowledge loader does not read (tests.yaml is read by forumbot test)
OTHER_SECTIONS: dict[str, object] = {"tests": list[TestQuestion]}

SECTION_DOCS = {
    "event": "The forum itself (only one, in one file).",
    "facts": "Answerable facts about the forum: each has aliases and an answer.",
    "people": "People named by the article; talks and doctors point at them by id.",
    "talks": "Expert talks: speaker is a person id, topics are topic ids.",
    "topics": "Clinical topics; talks and doctors point at them by id.",
    "specialties": "Clinical specialties; doctors point at them by id.",
    "doctors": "Directory listings: practitioner is a person id.",
    "emergency": "Emergency numbers and urgent-symptom rules (only one, in one file).",
    "vocabulary": "Words for matching questions (only one, in one file).",
    "tests": "Test questions: q, and expect (entry keys) and/or intent, optionally lang.",
    "translations": "english_first: true publishes text without all four languages (a "
                    "warning, English shown instead); false (default): an error.",
}

TRANSLATABLE = ("One text per language: en, fr, ar and zh (plain text is English only: an "
                "error unless translations.english_first is true).")
ID = "Lowercase letters, digits and hyphens, like cai-bin; unique within its list."
NEVER_INVENT = "Only from a real, checked source: never invented."

# (model, field) -> description shown by editors; the models carry no Field descriptions
FIELD_DOCS: dict[tuple[str, str], str] = {
    ("LocalizedMap", "en"): "English text (required).",
    ("LocalizedMap", "fr"): "French text.",
    ("LocalizedMap", "ar"): "Arabic text.",
    ("LocalizedMap", "zh"): "Chinese text.",
    ("Translated", "en"): "English names and synonyms (at least one).",
    ("Translated", "fr"): "French names; the first is how the bot writes it in French.",
    ("Translated", "ar"): "Arabic names (Darija in Latin letters too); the first is how the "
                          "bot writes it in Arabic.",
    ("Translated", "zh"): "Chinese names; the first is how the bot writes it in Chinese.",
    ("Event", "id"): ID,
    ("Event", "name"): "Full name of the forum. " + TRANSLATABLE,
    ("Event", "aliases"): "Other ways users name the forum, any language.",
    ("Event", "format"): "online, in person or hybrid.",
    ("Event", "host"): "Who hosted the forum. " + TRANSLATABLE,
    ("Event", "co_organizers"): "Who organised it jointly (a list). " + TRANSLATABLE,
    ("Event", "followers"): "Number of online followers (a whole number).",
    ("Event", "year"): "Year of the forum.",
    ("Event", "date"): 'Date as "YYYY-MM-DD" in quotes; empty when the source does not say.',
    ("Event", "start_time"): 'Start time as "HH:MM" in quotes; empty when unknown.',
    ("Event", "location"): "Where it took place; empty when the source does not say. "
                          + TRANSLATABLE,
    ("Event", "source_url"): "Link to the source article.",
    ("Event", "summary"): "What the forum was about. " + TRANSLATABLE,
    ("Fact", "id"): ID,
    ("Fact", "label"): "Short title of the fact (shown on buttons). " + TRANSLATABLE,
    ("Fact", "aliases"): "Words and questions that ask for this fact (at least one).",
    ("Fact", "answer"): "The reply text. " + TRANSLATABLE,
    ("Fact", "answer_from"): "Instead of answer: the event field that answers "
                             "(date, start_time, location, source_url).",
    ("Fact", "answers"): "Kinds of question this fact answers (who, what, how_many, when, "
                         "where, why): the question word then picks it.",
    ("Fact", "unknown"): "true for something users ask that the article does not give "
                         "(no answer): the bot says the article does not say it, naming "
                         "the label.",
    ("Fact", "people"): "Ids of the people this fact is about.",
    ("Person", "id"): ID,
    ("Person", "name"): "The name as the article writes it.",
    ("Person", "aliases"): "Other spellings users type: name order swapped, misspellings, "
                           "other scripts.",
    ("Person", "title"): "Title as the article gives it (Dr., Director, Mr.). " + TRANSLATABLE,
    ("Person", "role"): "Role as the article states it. " + TRANSLATABLE,
    ("Person", "institution"): "Institution as the article states it, by its usual name in "
                               "each language. " + TRANSLATABLE,
    ("Person", "country"): "Country, when the article says it. " + TRANSLATABLE,
    ("Person", "at_forum"): "What this person did at the forum. " + TRANSLATABLE,
    ("Talk", "id"): ID,
    ("Talk", "order"): "Position in the programme: 1, 2, 3 ...",
    ("Talk", "speaker"): "Id of the speaker in people.yaml.",
    ("Talk", "title"): "Subject of the talk. " + TRANSLATABLE,
    ("Talk", "aliases"): "Other ways users name this talk.",
    ("Talk", "topics"): "Ids of its topics in topics.yaml (at least one).",
    ("Talk", "summary"): "One paragraph about the talk. " + TRANSLATABLE,
    ("Topic", "id"): ID,
    ("Topic", "name"): "How the bot writes the topic in English.",
    ("Topic", "names"): "Synonyms, abbreviations and lay words per language.",
    ("Topic", "broader"): "Ids of wider topics: a question on them also finds this one.",
    ("Topic", "umbrella"): "true for a theme most talks share.",
    ("Topic", "urgent_symptom"): "true when its lay words can describe an emergency now: "
                                 "answers then add the emergency numbers.",
    ("Specialty", "id"): ID,
    ("Specialty", "name"): "How the bot writes the specialty in English.",
    ("Specialty", "names"): "Names of the specialty and of its clinicians per language.",
    ("Telecom", "system"): "phone, email, url or fax.",
    ("Telecom", "value"): 'The number or address, in quotes ("+212 ..."). ' + NEVER_INVENT,
    ("Telecom", "use"): "work or mobile.",
    ("AvailableTime", "days"): "Days: mon, tue, wed, thu, fri, sat, sun.",
    ("AvailableTime", "start"): 'Opening time "HH:MM", in quotes.',
    ("AvailableTime", "end"): 'Closing time "HH:MM", in quotes.',
    ("Doctor", "id"): ID,
    ("Doctor", "practitioner"): "Id of the person in people.yaml.",
    ("Doctor", "qualification"): "Qualifications, as the source gives them (a list). "
                                 + TRANSLATABLE,
    ("Doctor", "communication"): "Languages spoken, as codes like en, fr, ar, zh or fr-MA.",
    ("Doctor", "specialty"): "Ids of specialties (at least one).",
    ("Doctor", "conditions"): "Ids of topics this clinician treats.",
    ("Doctor", "organization"): "Hospital or clinic. " + NEVER_INVENT + " " + TRANSLATABLE,
    ("Doctor", "location"): "Address. " + NEVER_INVENT + " " + TRANSLATABLE,
    ("Doctor", "telecom"): "Phone numbers, emails, websites. " + NEVER_INVENT,
    ("Doctor", "available_times"): "Opening hours. " + NEVER_INVENT,
    ("Doctor", "source"): "Where these details come from.",
    ("EmergencyNumber", "country"): "Country. " + TRANSLATABLE,
    ("EmergencyNumber", "number"): 'The number, in quotes ("141"). ' + NEVER_INVENT,
    ("EmergencyNumber", "service"): "Which service answers. " + TRANSLATABLE,
    ("Terms", "en"): "English words and phrases.",
    ("Terms", "fr"): "French words and phrases.",
    ("Terms", "ar"): "Arabic words and phrases: Modern Standard, Darija in Arabic script and in "
                     "Latin letters with digits (katnzef, ma bghach ywqef).",
    ("Terms", "zh"): "Chinese words (simplified; traditional is converted before matching).",
    ("Terms", "context"): "true for words that only set the scene (a person, a pregnancy, a "
                          "baby): negation words never cancel them.",
    ("Pattern", "all"): "Names of groups: every one must have a word in the message.",
    ("Pattern", "within"): "At most this many words (Chinese: characters) from the first to "
                           "the last word found.",
    ("Pattern", "negated"): "true for an absence (the baby is not moving): a negation word "
                            "must stand among or next to the words found.",
    ("Concept", "id"): ID,
    ("Concept", "name"): "What this red flag or health question is, for admins.",
    ("Concept", "when"): "Patterns: the concept fires when any one of them is found.",
    ("Negation", "before"): "Words that cancel a red-flag word right after them (not, no longer, "
                            "plus de, ما بقاش, 不再).",
    ("Negation", "after"): "Words that cancel a red-flag word right before them (any more, has "
                           "stopped, وقف, 止住了).",
    ("Negation", "past"): "Words that make a red-flag word near them history (years ago).",
    ("Negation", "other_meaning"): "Longer words in which a red-flag word means something else "
                                   "(blood pressure, 血压).",
    ("Negation", "window"): "How close (in words) a negation word must be: 2 = next to it or "
                            "one word between.",
    ("Negation", "past_window"): "How close (in words) a past word must be.",
    ("Emergency", "numbers"): "Numbers given in the emergency and health replies.",
    ("Emergency", "groups"): "Named lists of words per language, combined by the concepts.",
    ("Emergency", "concepts"): "Red flags: urgent symptoms that get the emergency reply.",
    ("Emergency", "safety_net"): "Health questions that get the 'I cannot give medical advice' "
                                 "reply with the numbers and a doctor or midwife.",
    ("Emergency", "negation"): "Words that cancel a red flag: negations and the distant past.",
    ("Emergency", "framing"): "Groups that make a message a question about the programme or "
                              "general information.",
    ("Emergency", "personal"): "Groups of words (I'm, my wife, right now) that keep a framed "
                               "message urgent when they stand near the red flag.",
    ("Emergency", "personal_window"): "How close (in words) a personal word must be.",
    ("Translations", "english_first"): "true: text missing French, Arabic or Chinese is a "
                                       "warning and English is shown; false: an error.",
    ("Vocabulary", "stopwords"): "Per language: words that carry no meaning for matching.",
    ("Vocabulary", "markers"): "Per language: words that tell the language of a short message.",
    ("Vocabulary", "examples"): "Per language: the example questions the greeting and /help "
                                "suggest (they must be answerable by this knowledge).",
    ("Vocabulary", "variants"): "Groups of spellings of one word; the first is used.",
    ("TestQuestion", "q"): "The question, as a user would type it.",
    ("TestQuestion", "expect"): "Entry (kind:id, like person:cai-bin) or list of entries the "
                                "answer must name.",
    ("TestQuestion", "intent"): "The intent the answer must have: emergency, health, "
                                "fallback, greeting, help, smalltalk, event, session, speaker, "
                                "doctor.",
    ("TestQuestion", "lang"): "The language the answer must be in: en, fr, ar or zh.",
    ("TestQuestion", "note"): "Why this question is here (not checked).",
    ("Vocabulary", "cues"): "Words that steer the answer: doctor, speakers, sessions, "
                            "greeting, help, thanks, about, bye, ack, offtopic.",
    ("Vocabulary", "questions"): "Question words per kind (who, what, how_many, when, "
                                 "where, why), any language.",
    ("Vocabulary", "conjunctions"): "Words that join two questions in one message (and, et).",
    ("Vocabulary", "context"): "Words true of the whole forum (forum, online, China): they "
                               "count less than the words that define a question.",
    ("Vocabulary", "subscription"): "What a WeChat follower types, alone, to subscribe to the "
    "announcements (subscribe) or to stop them (unsubscribe), in any language.",
    ("Vocabulary", "followups"): "Words of follow-up questions: pronouns, 'tell me more', "
                                 "ordinals (read only while a conversation has context).",
    ("Vocabulary", "languages"): "Per language code: the names a user may type to choose "
                                 "that language of answers ('français', '中文').",
    ("FollowUpWords", "pronouns"): "Per language: pronouns standing for the person the last "
                                   "replies were about (he, elle, 他, هي).",
    ("FollowUpWords", "not_pronouns"): "Per language: phrases whose pronoun-like words are "
                                       "not one (il y a, 其他).",
    ("FollowUpWords", "more"): "Per language: asking for more on the last subject "
                               "(tell me more).",
    ("FollowUpWords", "ordinals"): "Per language: lists of words naming the 1st, 2nd, ... "
                                   "option shown (first, deuxième, 第三).",
    ("FollowUpWords", "last"): "Per language: words naming the last option shown.",
}


def _section_type(section: str) -> Any:
    """The type (a model, or a list of a model) of a section's value, for the schema."""
    if section in OTHER_SECTIONS:
        return OTHER_SECTIONS[section]
    if section in LIST_SECTIONS:
        return GenericAlias(list, (LIST_SECTIONS[section],))  # list[model], built at run time
    return SINGLE_SECTIONS[section]


def file_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema (a dict) of the knowledge file ``<name>.yaml``.

    Raises:
        KeyError: for a name not in :data:`FILES`.
    """
    sections, doc = FILES[name]
    fields: dict[str, Any] = {s: (_section_type(s), ...) for s in sections}
    model = create_model(f"{name.capitalize()}File", __config__=ConfigDict(extra="forbid"), **fields)
    schema = model.model_json_schema()
    schema.pop("required", None)  # the loader allows a section to live in another file
    for section, prop in schema["properties"].items():
        prop["description"] = SECTION_DOCS[section]
    for model_name, definition in schema.get("$defs", {}).items():
        for field, prop in definition.get("properties", {}).items():
            text = FIELD_DOCS.get((model_name, field))
            if text and "description" not in prop:
                prop["description"] = text
    return {"$schema": DIALECT,
            "$comment": "Generated from bot/knowledge/models.py by `python -m "
                        "bot.knowledge.schema`; do not edit by hand.",
            "title": f"{name}.yaml", "description": doc,
            **{k: v for k, v in schema.items() if k != "title"}}


def render(name: str) -> str:
    """Return the schema of ``<name>.yaml`` as the exact text written to its file."""
    return json.dumps(file_schema(name), indent=2, ensure_ascii=False) + "\n"


def schema_path(folder: str | Path, name: str) -> Path:
    """Return where the schema of ``<name>.yaml`` lives: ``<folder>/schemas/<name>.schema.json``."""
    return Path(folder) / SCHEMA_DIR / f"{name}.schema.json"


def stale_schemas(folder: str | Path) -> list[Path]:
    """Return the schema files of ``folder`` that are missing or differ from a fresh render."""
    out = []
    for name in FILES:
        path = schema_path(folder, name)
        if not path.is_file() or path.read_text(encoding="utf-8") != render(name):
            out.append(path)
    return out


def write_schemas(folder: str | Path) -> list[Path]:
    """Write every schema into ``<folder>/schemas/``; return the files that changed."""
    changed = stale_schemas(folder)
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(path.name.removesuffix(".schema.json")), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.knowledge.schema [--check] [FOLDER]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bot.knowledge.schema",
                                     description="write the JSON Schemas of the knowledge files")
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a schema file is missing or stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(args.folder)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(args.folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
