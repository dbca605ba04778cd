"""Render bot.messages objects as terminal text. Buttons and choices become numbered options."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import Translator, translator
from bot.messages import Message, PromptKind, Severity

ICONS = {
    Severity.INFO: "",
    Severity.SUCCESS: "\u2714 ",
    Severity.WARNING: "\u26a0 ",
    Severity.URGENT: "\U0001f6a8 ",
    Severity.ERROR: "\u2716 ",
}


@dataclass(frozen=True)
class Option:
    kind: str  # "answer" (a prompt choice) | "button"
    action: str
    value: str


def render(message: Message, indent: str = "", T: Translator | None = None) -> tuple[str, list[Option]]:
    """Text for the message and the numbered options it offers, in order."""
    T = T or translator()
    lines: list[str] = []
    options: list[Option] = []
    icon = ICONS.get(message.severity, "")
    if message.title:
        title = f"{icon}{message.title}"
        lines.append(title.upper() if message.severity is Severity.URGENT else title)
        icon = ""
    if message.text:
        for i, line in enumerate(message.text.splitlines()):
            lines.append(f"{icon if i == 0 else ''}{line}")
    for f in message.fields:
        lines.append(f"  {f.label}: {f.value}")
    if message.prompt and message.prompt.choices:
        for c in message.prompt.choices:
            options.append(Option("answer", "answer", c.value))
            lines.append(f"  [{len(options)}] {c.label}")
    elif message.prompt and message.prompt.kind is PromptKind.DATE:
        lines.append("  " + T("(a date: today, yesterday, 2026-04-08 or 8/4/2026)"))
    if message.buttons:
        labels = []
        for b in message.buttons:
            options.append(Option("button", b.action, b.value))
            labels.append(f"[{len(options)}] {b.label}")
        lines.append("  " + "   ".join(labels))
    return "\n".join(indent + ln for ln in lines), options
