"""Steps and helpers shared by several flows: the case a turn is about, step and flag choices, the
agency and person choices, the reason step, and the news of a change sent to the case's parties.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Any

from bot.cases import protocols, services
from bot.conversation.engine import Step, Turn, ask_text, parse_yes_no, require_answer, yes_no_prompt
from bot.core import views
from bot.core.i18n import Translator
from bot.core.messages import Choice, Message, Outbound
from bot.notify import notify
from storage import repo
from storage.models import Case


def _raising_agency_id(t: Turn) -> int | None:
    return t.case().raising_agency_id if "ref" in t.data else t.ctx.actor.agency_id


def agency_choices(t: Turn) -> list[Choice]:
    """Agencies in the directory other than the raising one (single-agency disputes are excluded)."""
    raising = _raising_agency_id(t)
    return [Choice(str(a.id), a.name) for a in repo.agencies(t.ctx.actor.board_id, session=t.session)
            if a.id != raising]


def person_choices(t: Turn) -> list[Choice]:
    ppl = repo.people(t.ctx.actor.board_id, session=t.session, agency_id=t.data["agency"])
    return [Choice(str(p.id), f"{p.name}, {p.title}" if p.title else p.name) for p in ppl] + [
        Choice("other", t.T("Someone not listed"))]


def case_news(t: Turn, case: Case, event: notify.Event, headline: Callable[[Translator, frozenset[notify.To]], str],
              *, st: Any = None, before: str | None = None, extra: Callable[[Translator], list[str]] | None = None,
              skip: Collection[int] = ()) -> list[Outbound]:
    """Tell everyone the notification table names for ``event`` (bot/notify/notify.py) about a change to the case: in
    each one's own language, the headline for their role, then the case as it is now. ``before`` is the stage
    the case was at when it moved, so that stage's people hear too."""
    proto = protocols.protocol_for(case, session=t.session)
    st = st if st is not None else services.state_of(case, t.ctx.now, session=t.session)
    stage_ids = [sid for sid in dict.fromkeys([before, case.stage_id]) if sid]

    def build(T: Translator, _person: Any, roles: frozenset[notify.To]) -> Message:
        msg = views.case_view(T, case, st, session=t.session, intro=headline(T, roles), now=t.ctx.now)
        lines = extra(T) if extra else []
        return dataclasses.replace(msg, text="\n".join([msg.text, *lines])) if lines else msg

    told = notify.tell(event, case, proto, build, session=t.session, now=t.ctx.now, key=notify.action_key(case),
                       aud=notify.Audience(stages=tuple(proto.stage(sid) for sid in stage_ids)),
                       actor_id=t.ctx.actor.id, skip=skip)
    return told.queued


# ---- actions on a case ----------------------------------------------------------------------
def case_state(t: Turn) -> tuple[Case, Any]:
    case = t.case()
    return case, services.state_of(case, t.ctx.now, session=t.session)


def step_choices(t: Turn, include_none: bool) -> list[Choice]:
    _, st = case_state(t)
    out = [Choice(sid, title) for sid, title in views.completable_labels(st, t.T)]
    if include_none:
        out.append(Choice("none", t.T("None of these (just a note)")))
    return out


def flag_questions(t: Turn, step_id: str | None, resolution: bool) -> list[tuple[str, str]]:
    """Flags the protocol conditions later steps on: (flag name, the step they would switch on)."""
    p = protocols.protocol_for(t.case(), session=t.session)
    out = []
    for _, st in p.all_steps():
        if not (st.when or "").startswith("flag:"):
            continue
        anchored_here = (st.anchor.kind.value == "step" and st.anchor.step == step_id) if step_id else False
        on_resolution = resolution and st.anchor.kind.value == "resolution"
        if anchored_here or on_resolution:
            out.append((st.when[5:], t.T.local(st)))  # type: ignore[index]
    return out


def flags_step(on_resolution: bool) -> Step:
    """Ask, one at a time, whether each condition the protocol hangs a later step on applies
    (e.g. a policy gap after resolution, or a case review after the Chair's decision)."""

    def ask(t: Turn) -> Message | None:
        if on_resolution and t.data.get("resolved") != "resolved":
            return None
        step_id = None if on_resolution else t.data.get("step")
        pending = [q for q in flag_questions(t, step_id, on_resolution) if q[0] not in t.data.get("flags", {})]
        if not pending:
            return None
        name, title = pending[0]
        t.data["_flag"] = name
        return Message(t.T("Does this apply to this case? {title}", title=title),
                       prompt=yes_no_prompt(t.T, f"flag:{name}"))

    def answer(t: Turn, v: str) -> None:
        t.data.setdefault("flags", {})[t.data.pop("_flag")] = parse_yes_no(v, t.T)

    return Step("flags", ask, answer)


def reason_step(question: Callable[[Translator], str]) -> Step:
    return Step("reason", lambda t: ask_text(question(t.T), "reason", long=True),
                lambda t, v: require_answer(t, "reason", v))
