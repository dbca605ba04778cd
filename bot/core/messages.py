"""The channel-neutral message model.

Slack (Block Kit), Teams (Adaptive Cards) and the console all render these same objects. Button and
choice ids are the routing keys of the conversation (one id for a button and its handler).
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    URGENT = "urgent"  # immediate-risk route: always shown first
    ERROR = "error"


class PromptKind(StrEnum):
    CHOICE = "choice"
    TEXT = "text"
    LONG_TEXT = "long_text"
    DATE = "date"


# how each severity is marked where a platform has no native colour for it (Slack text, Teams titles)
SEVERITY_EMOJI = {
    Severity.URGENT: "\U0001f6a8",  # 🚨
    Severity.WARNING: "\u26a0\ufe0f",  # ⚠️
    Severity.SUCCESS: "\u2705",  # ✅
    Severity.ERROR: "\u2716\ufe0f",  # ✖️
}


@dataclass(frozen=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True)
class Button:
    action: str  # routing key, e.g. "case.record_outcome"
    label: str
    value: str = ""  # e.g. the case reference
    style: str | None = None  # "primary" | "danger"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Prompt:
    """The one question the bot is waiting on."""

    field: str
    kind: PromptKind
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    hint: str | None = None


class FieldKind(StrEnum):
    CHOICE = "choice"
    TEXT = "text"
    LONG_TEXT = "long_text"
    DATE = "date"
    PERSON = "person"  # a platform user picker (Slack users_select, a Teams people picker)


def iso_date_or_none(value: str | None) -> str | None:
    """A form field's initial date as YYYY-MM-DD, or None when it is empty or not a date."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class FormField:
    id: str
    label: str
    kind: FieldKind
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    hint: str | None = None
    initial: str | None = None  # a choice value, text, or an ISO date
    max_length: int | None = None


@dataclass(frozen=True)
class Form:
    """A form shown all at once (a Slack modal, a Teams Adaptive Card). ``id`` routes the submission;
    ``context`` carries what the submission needs back (e.g. the case reference)."""

    id: str
    title: str
    submit_label: str
    fields: tuple[FormField, ...]
    context: str = ""
    intro: str | None = None  # text shown above the fields
    intro_severity: "Severity" = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: a chart (image/png) or a form (application/pdf, text/html).
    Slack uploads it into the conversation; Teams shows an image inline and offers other files through a
    link; the console saves it and prints the path. ``title`` is the accessible name / alt text."""

    filename: str
    media_type: str
    data: bytes
    title: str


@dataclass(frozen=True)
class Message:
    text: str
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    prompt: Prompt | None = None
    severity: Severity = Severity.INFO
    case_ref: str | None = None
    # True when the message carries subject details: adapters must only send it privately
    private: bool = False
    # a form to open (Slack modal / Teams card); the console asks the same questions one at a time
    form: Form | None = None
    attachments: tuple[Attachment, ...] = ()
    # what the message is, for a message sent to someone other than the speaker: a bot.notify.notify.Event value
    kind: str | None = None


@dataclass(frozen=True)
class Address:
    """Where a message goes: a person (direct message) or a channel on a platform."""

    kind: str  # "person" | "channel"
    person_id: int | None = None
    channel: str | None = None  # platform address, e.g. "#police-sgt-managers"
    platform: str | None = None

    @classmethod
    def person(cls, person_id: int) -> Address:
        return cls("person", person_id=person_id)

    @classmethod
    def to_channel(cls, platform: str, channel: str) -> Address:
        return cls("channel", channel=channel, platform=platform)


@dataclass(frozen=True)
class Outbound:
    to: Address
    message: Message


@dataclass
class Reply:
    """What handling one inbound message produced: the messages to the speaker, and (for information: an
    adapter refreshes what those people see, e.g. a Slack App Home) the messages it queued in the outbox for
    other people and channels. Those are delivered by bot.delivery.delivery, never by the adapter."""

    to_speaker: list[Message] = field(default_factory=list)
    queued: list[Outbound] = field(default_factory=list)

    def say(self, message: Message) -> Reply:
        self.to_speaker.append(message)
        return self

    def extend(self, other: Reply) -> Reply:
        self.to_speaker.extend(other.to_speaker)
        self.queued.extend(other.queued)
        return self

    def told(self, queued: list[Outbound]) -> Reply:
        self.queued.extend(queued)
        return self


# -- serialisation (the outbox stores messages as JSON) -----------------------------------------
def message_to_data(m: Message) -> dict:
    return {
        "text": m.text,
        "title": m.title,
        "fields": [[f.label, f.value] for f in m.fields],
        "buttons": [[b.action, b.label, b.value, b.style] for b in m.buttons],
        "severity": m.severity.value,
        "case_ref": m.case_ref,
        "private": m.private,
        "kind": m.kind,
        # the question a reply asks (its choices become buttons): a queued reply keeps it
        "prompt": None if m.prompt is None else {
            "field": m.prompt.field, "kind": m.prompt.kind.value, "optional": m.prompt.optional, "hint": m.prompt.hint,
            "choices": [[c.value, c.label] for c in m.prompt.choices]},
        # the bytes as base64, so a queued or scheduled message keeps its files (the outbox payload is JSON)
        "attachments": [{"filename": a.filename, "media_type": a.media_type, "title": a.title,
                         "data": base64.b64encode(a.data).decode("ascii")} for a in m.attachments],
    }


def message_from_data(d: dict) -> Message:
    return Message(
        text=d.get("text", ""),
        title=d.get("title"),
        fields=tuple(Field(a, b) for a, b in d.get("fields", ())),
        buttons=tuple(Button(a, lbl, v, st) for a, lbl, v, st in d.get("buttons", ())),
        severity=Severity(d.get("severity", "info")),
        case_ref=d.get("case_ref"),
        private=bool(d.get("private", False)),
        kind=d.get("kind"),
        prompt=None if not d.get("prompt") else Prompt(
            d["prompt"]["field"], PromptKind(d["prompt"]["kind"]),
            tuple(Choice(v, lbl) for v, lbl in d["prompt"].get("choices", ())), bool(d["prompt"].get("optional")),
            d["prompt"].get("hint")),
        attachments=tuple(Attachment(a["filename"], a["media_type"], base64.b64decode(a["data"], validate=True),
                                     a.get("title") or a["filename"]) for a in d.get("attachments", ())),
    )
