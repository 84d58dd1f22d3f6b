"""Plain-data shapes of the core: a message goes in, a reply comes out.

Nothing here knows a chat platform; channels convert their updates to :class:`Message`
and render :class:`Reply` (text plus choices as buttons or numbered lines).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

# emergency: urgent symptoms, the numbers first and alone; health: a personal health
# situation or medical question outside the programme ("can I take aspirin while
# pregnant?"): the numbers "if this is urgent", no advice, a doctor or midwife and Find a
# Doctor; fallback: not understood ("did you mean ...?"); command: a reply of the service
# to /language, /subscribe, an admin command, ...
Intent = Literal["greeting", "help", "event", "session", "speaker", "doctor", "emergency",
                 "health", "fallback", "smalltalk", "command"]
# the core's intents ("command" is only the service's)
INTENTS: tuple[str, ...] = ("greeting", "help", "event", "session", "speaker", "doctor",
                            "emergency", "health", "fallback", "smalltalk")


@dataclass(frozen=True)
class Context:
    """What a conversation was about just before a message (kept by the service, which
    drops it after 30 minutes of silence); the core reads it to resolve follow-ups.

    Attributes:
        ids: reference keys ("kind:id") of the entries the last replies were about, in the
            order the reply gave them.
        choices: the Choice ids last shown, in order ("the second one" is ``choices[1]``).
        lang: the language of the last reply, for messages that do not show one ("2").
    """

    ids: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    lang: str | None = None


@dataclass(frozen=True)
class Message:
    """One incoming chat message.

    Attributes:
        text: what the user typed (any length; the core reads at most MAX_MESSAGE_CHARS).
        user_id: channel-specific user id as str, or None (console); never logged.
        lang: the user's stored language preference ("en", "fr", "ar", "zh") or None to
            detect it from the text.
        context: the conversation's context, or None (a message on its own).
    """

    text: str
    user_id: str | None = None
    lang: str | None = None
    context: Context | None = None


@dataclass(frozen=True)
class Choice:
    """A follow-up or "did you mean" option: ``id`` is what to send back to
    :meth:`bot.core.engine.Assistant.choose` (short ASCII, under 64 bytes), ``label`` is
    what the user sees."""

    id: str
    label: str


@dataclass(frozen=True)
class Candidate:
    """One scored entry, for ``forumbot ask --explain``: the entry key, the alias that
    matched, its score (0..1) and whether it matched through a description."""

    key: str
    alias: str
    score: float
    description: bool = False


@dataclass(frozen=True)
class Reply:
    """The core's answer to one message.

    Attributes:
        intent: one of INTENTS.
        text: the reply as plain text, without the choices.
        choices: follow-up or did-you-mean options, best first.
        ids: reference keys ("kind:id") of the knowledge entries the answer was built from.
        confidence: 0..1; 1.0 for commands, greetings and emergencies.
        lang: detected (or preferred) language of the message.
        candidates: the best scored entries, for explanations to admins.
    """

    intent: Intent
    text: str
    choices: tuple[Choice, ...] = ()
    ids: tuple[str, ...] = ()
    confidence: float = 1.0
    lang: str = "en"
    candidates: tuple[Candidate, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, object]:
        """Return the JSON contract of ``forumbot ask --jsonl`` (without latency_ms):
        keys intent, text, choices (list of {id, label}), ids, confidence, lang."""
        data = asdict(self)
        data.pop("candidates")
        data["choices"] = [asdict(c) for c in self.choices]
        data["ids"] = list(self.ids)
        return data
