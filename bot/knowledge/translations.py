"""The check that every user-visible knowledge text exists in all four languages.

The bot answers in the language of the question; a text without that language would be
read in English by a French, Arabic or Chinese user. So a user-visible field (the fields of
:data:`~bot.knowledge.models.TRANSLATED_FIELDS`, and the ``names`` of topics and
specialties, whose first name per language is how a reply writes them, and the example
questions of the vocabulary) lacking French, Arabic or Chinese is an **error**; with
``translations: {english_first: true}`` in the knowledge it is a **warning** instead, and
replies use the English text for the missing languages (knowledge/README.md, "Translated
text").
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel

from .models import (
    LANGS,
    TRANSLATED_FIELDS,
    EmergencyNumber,
    LocalizedMap,
    Specialty,
    Topic,
    Vocabulary,
)
from .problems import Problem
from .yamlsafe import FieldPath, Positions, field_path, position_of

LANGUAGE_NAMES = {"en": "English", "fr": "French", "ar": "Arabic", "zh": "Chinese"}

# (file, YAML positions of that file, path of the entry in it, the entry)
Located = tuple[str, Positions, FieldPath, BaseModel]


def missing_languages(value: object) -> list[str]:
    """Return the language codes (of fr, ar, zh) that a text value lacks: all three for
    plain text (English only), the empty ones of a {en, fr, ar, zh} mapping."""
    if isinstance(value, LocalizedMap):
        return [lang for lang in LANGS[1:] if not getattr(value, lang)]
    return list(LANGS[1:]) if isinstance(value, str) else []


def said(langs: list[str]) -> str:
    """Return "French", "French or Chinese", "French, Arabic or Chinese"."""
    names = [LANGUAGE_NAMES[lang] for lang in langs]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _texts(entry: BaseModel) -> Iterator[tuple[FieldPath, object]]:
    """Yield (sub-path, value) of every user-visible text of ``entry``."""
    for field in TRANSLATED_FIELDS.get(type(entry), ()):
        value = getattr(entry, field)
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield (field, i), item
        elif value is not None:
            yield (field,), value


def translation_problems(entries: list[Located], english_first: bool) -> list[Problem]:
    """Return one problem per user-visible text missing a language.

    Args:
        entries: every entry with its place: (file, YAML positions, path, entry); an
            emergency section's numbers are checked one by one.
        english_first: the knowledge's ``translations.english_first``: warnings instead of
            errors.
    Returns:
        Problems of severity "error" (or "warning" when ``english_first``), at the field's
        line and column.
    """
    severity: Literal["error", "warning"] = "warning" if english_first else "error"
    after = (" Published in English first (`english_first: true` under `translations:`): "
             "those users read the English text until the translation is added."
             if english_first else
             " Add the translation (see knowledge/README.md, \"Translated text\"), or set "
             "`english_first: true` under `translations:` to publish the English first.")
    problems: list[Problem] = []

    def report(file: str, positions: Positions, path: FieldPath, message: str) -> None:
        # at the field's name: a translated text's value starts on its first language line
        line, column = positions.get(path + ("__key__",)) or position_of(positions, path)
        problems.append(Problem(file, line, column, field_path(path), message + after,
                                severity))

    for file, positions, path, entry in entries:
        items: list[tuple[FieldPath, BaseModel]] = [((), entry)]
        numbers = getattr(entry, "numbers", None)
        if numbers and all(isinstance(n, EmergencyNumber) for n in numbers):
            items += [(("numbers", i), n) for i, n in enumerate(numbers)]
        for sub, item in items:
            for field, value in _texts(item):
                missing = missing_languages(value)
                if missing:
                    plain = isinstance(value, str)
                    how = ("it is plain English text: write it as `en:`, `fr:`, `ar:` and `zh:` "
                           "lines" if plain else
                           f"add {', '.join(f'`{lang}:`' for lang in missing)} to it")
                    report(file, positions, path + sub + field, (
                        f"this text has no {said(missing)} version, so users asking in "
                        f"{'that language' if len(missing) == 1 else 'those languages'} "
                        f"would read it in English: {how}."))
        if isinstance(entry, (Topic, Specialty)):
            missing = [lang for lang in LANGS[1:] if not getattr(entry.names, lang)]
            if missing:
                report(file, positions, path + ("names",), (
                    f"{entry.ref} has no {said(missing)} names: replies in "
                    f"{'that language' if len(missing) == 1 else 'those languages'} would "
                    f"write it in English, and users typing it there would not find it. Add "
                    f"{', '.join(f'`{lang}:`' for lang in missing)} under `names`."))
        if isinstance(entry, Vocabulary) and entry.examples:
            missing = [lang for lang in LANGS if not entry.examples.get(lang)]
            if missing:
                report(file, positions, path + ("examples",), (
                    f"the example questions have no {said(missing)} version: the greeting "
                    f"and /help in {'that language' if len(missing) == 1 else 'those languages'}"
                    f" would suggest questions in another language. Add "
                    f"{', '.join(f'`{lang}:`' for lang in missing)} under `examples`."))
    return problems
