"""Where a protocol's clocks start, in words ("2 working days after *the disagreement arose*"): for the case views
and for the timetable of a protocol file alone (no case, no database)."""

from __future__ import annotations

from bot.core.i18n import Translator
from protocol.state import AnchorInfo
from protocol.timescales import AnchorKind


def anchor_phrase(T: Translator, a: AnchorInfo, step_title: str | None = None) -> str:
    """Where a clock started, in words; ``step_title`` is the anchor step's title in the reader's language."""
    if a.kind is AnchorKind.DISAGREEMENT:
        return T("the disagreement arose")
    if a.kind is AnchorKind.CONCERN_RAISED:
        return T("the concern was raised")
    if a.kind is AnchorKind.STAGE_START:
        return T("Stage {n} started", n=a.stage_number)
    if a.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED:
        return T("Stage {n} completed", n=a.stage_number)
    if a.kind is AnchorKind.STEP:
        return T("\u201c{title}\u201d was done", title=step_title or a.step_title)
    return T("the resolution")


def anchor_clause(T: Translator, a: AnchorInfo, step_title: str | None = None) -> str:
    """Where a clock started, as a clause that reads after 'when' ('the resolution was reached')."""
    if a.kind is AnchorKind.RESOLUTION:
        return T("the resolution was reached")
    return anchor_phrase(T, a, step_title)
