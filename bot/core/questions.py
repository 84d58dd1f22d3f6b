"""Question words: which kind of fact a message asks for, and where one question ends and
the next begins when a message asks several.

The words come from the knowledge vocabulary (``questions``, ``conjunctions``), in any
language: "how many" / "combien" / "كم" / "多少" ask for a number, "when" / "quand" / "متى" /
"什么时候" for a date. Kinds: who, what, how_many, when, where, why; "whether" (yes/no
openers: "was", "est-ce que", "هل", "wach") only starts a question, it picks nothing.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from bot.knowledge.models import Vocabulary

from .normalize import is_han, normalize

Units = list[str]
MAX_PARTS = 3
MAX_FILLERS = 2   # filler words allowed between a conjunction and its question word
_SENTENCE_END = re.compile(r"[?？!！。;；\n]+")
_COMMA = ",，、،"
_WORD = re.compile(r"\w+")
# yes/no openers that may start a second question after a conjunction ("... and was it
# online?"); not a kind of fact, so they live here with the splitting rule
WHETHER = "whether"


class QuestionWords:
    """Question words and conjunctions of the vocabulary, in every language.

    Args:
        vocabulary: the knowledge vocabulary (``questions``, ``conjunctions``).
        units: the match index's tokenizer (so spelling variants agree).
    """

    def __init__(self, vocabulary: Vocabulary, units: Callable[[str], Units]):
        self.words: list[tuple[str, tuple[str, ...]]] = []
        self.han: list[tuple[str, str]] = []
        for kind, terms in vocabulary.questions.items():
            for term in terms:
                u = units(term)
                if not u:
                    continue
                if all(is_han(x[0]) for x in u):
                    self.han.append((kind, "".join(u)))
                else:
                    self.words.append((kind, tuple(u)))
        # first word -> the question words starting with it (kinds() looks only those up)
        self.first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for asked, words in self.words:
            self.first.setdefault(words[0], []).append((asked, words))
        conj = [units(c) for c in vocabulary.conjunctions]
        self.conjunctions = frozenset(c[0] for c in conj if len(c) == 1 and not is_han(c[0][0]))
        self.han_conjunctions = tuple(sorted(("".join(c) for c in conj
                                              if c and all(is_han(x[0]) for x in c)),
                                             key=len, reverse=True))
        self.han_starts = tuple(sorted((w for _, w in self.han), key=len, reverse=True))
        # words that may stand between a conjunction and its question word ("et c'était
        # quel ...", "and then who ..."): the vocabulary's stopwords of one word
        self.fillers = frozenset(u[0] for words in vocabulary.stopwords.values()
                                 for w in words if len(u := units(w)) == 1)
        self.units = units

    # -- kinds ----------------------------------------------------------------------------
    def kinds(self, units: Units) -> dict[str, frozenset[int]]:
        """Return the question kinds asked in ``units`` with the positions of their words
        ({"how_many": {0, 1}}); "whether" is left out."""
        out: dict[str, set[int]] = {}
        for i, unit in enumerate(units):
            for kind, term in self.first.get(unit, ()):
                if tuple(units[i:i + len(term)]) == term:
                    out.setdefault(kind, set()).update(range(i, i + len(term)))
        # Chinese question words only in Chinese (a Latin message skips the joining)
        han = "" if "".join(units).isascii() else \
            "".join(u if is_han(u[0]) else "\0" for u in units)
        if not han.isascii():
            for kind, written in self.han:
                start = han.find(written)
                if start != -1:
                    out.setdefault(kind, set()).update(range(start, start + len(written)))
        out.pop(WHETHER, None)
        return {k: frozenset(v) for k, v in out.items()}

    # -- several questions ----------------------------------------------------------------
    def _starts_question(self, words: list[str]) -> bool:
        """True when the normalised ``words`` begin with a question word."""
        for _, term in self.words:
            if tuple(words[:len(term)]) == term:
                return True
        return False

    def _question_follows(self, words: list[str]) -> bool:
        """True when ``words`` (after a conjunction) begin with a question word, possibly
        after up to MAX_FILLERS filler words ("et c'était quel anniversaire")."""
        for skip in range(MAX_FILLERS + 1):
            if skip and words[skip - 1] not in self.fillers:
                return False
            if self._starts_question(words[skip:]):
                return True
            if skip >= len(words):
                return False
        return False

    def split(self, text: str) -> list[str]:
        """Split a message into its questions, in order (the first MAX_PARTS of them).

        A question ends at ? ! 。 ; or a line break, and before a question word that
        follows a comma or a conjunction ("..., and how many ...", "... et qui ...",
        "...وكم ...", "...，多少..."). Returns [text] when there is one.
        """
        if not self._may_split(text):
            return [text]
        parts: list[str] = []
        for sentence in _SENTENCE_END.split(text):
            parts.extend(self._clauses(sentence))
        parts = [p for p in (p.strip(" \t" + _COMMA) for p in parts) if p]
        return parts[:MAX_PARTS] or [text]

    def _may_split(self, text: str) -> bool:
        """Cheap test: a sentence end before the last characters, a comma, a conjunction
        or an Arabic word starting with و; most messages have none of these."""
        body = text.strip()[:-1]
        if _SENTENCE_END.search(body) or any(c in body for c in _COMMA) or " و" in body:
            return True
        if not body.isascii() and any(c in body for c in self.han_conjunctions):
            return True
        return not self.conjunctions.isdisjoint(normalize(body).split())

    def _clauses(self, sentence: str) -> list[str]:
        tokens = list(_WORD.finditer(sentence))
        words = [self.units(t.group(0)) for t in tokens]
        cuts: list[tuple[int, int]] = []   # (end of previous clause, start of next)
        for n, tok in enumerate(tokens):
            word = tok.group(0)
            if is_han(word[0]):
                cuts.extend(self._han_cuts(sentence, tok))
                continue
            rest = [w for norm in words[n + 1:n + 4 + MAX_FILLERS] for w in norm]
            norm = words[n]
            if not norm:
                continue
            before = sentence[:tok.start()].rstrip()
            after_comma = bool(before) and before[-1] in _COMMA
            if norm[0] in self.conjunctions and n and self._question_follows(rest):
                cuts.append((tok.start(), tokens[n + 1].start()))
            elif after_comma and self._starts_question([*norm, *rest]):
                cuts.append((tok.start(), tok.start()))
            elif n and word[0] == "و" and len(word) > 2 and \
                    self._starts_question(self.units(word[1:])):
                cuts.append((tok.start(), tok.start() + 1))   # "وكم": and + how many
        out, last = [], 0
        for end, start in cuts:
            out.append(sentence[last:end])
            last = start
        out.append(sentence[last:])
        return out

    def _han_cuts(self, sentence: str, tok: re.Match[str]) -> list[tuple[int, int]]:
        """Cuts inside or before a run of Chinese characters: after a comma or at a
        conjunction (和, 还有...), when a question word follows."""
        run = normalize(tok.group(0))
        cuts = []
        before = sentence[:tok.start()].rstrip()
        if before and before[-1] in _COMMA and any(run.startswith(w) or run[1:].startswith(w)
                                                   for w in self.han_starts):
            cuts.append((tok.start(), tok.start()))
        for conj in self.han_conjunctions:
            at = run.find(conj, 1)
            while at != -1:
                after = run[at + len(conj):]
                if any(after.startswith(w) for w in self.han_starts):
                    cuts.append((tok.start() + at, tok.start() + at + len(conj)))
                at = run.find(conj, at + 1)
        return cuts


__all__ = ["QuestionWords", "MAX_PARTS"]
