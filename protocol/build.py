"""Build a Protocol (protocol.spec) from board data the schema has accepted (or protocol.schema repaired).

A value that cannot be read (a timescale, an anchor, a meeting date, working hours) is reported in ``problems``
and marked broken, and the board is still built so that its other rules can be checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from protocol.schema import Broken
from protocol.spec import (
    Bypass,
    BypassReason,
    Category,
    Contact,
    Exclusion,
    Form,
    FormField,
    FormPart,
    ImmediateRisk,
    Level,
    Nudge,
    Precondition,
    PreconditionAnswer,
    Protocol,
    Record,
    Reporting,
    Retention,
    Schedule,
    Side,
    Stage,
    Step,
    StepKind,
    UrgentNotice,
)
from protocol.timescales import Anchor, AnchorKind, Duration, DurationError, Unit


def _form_field(raw: Any) -> FormField:
    """A form field is its label (asked in chat) or {label, from, private, type}."""
    if isinstance(raw, str):
        return FormField(raw)
    source = raw.get("from")
    private = bool(raw.get("private", source is not None and source.startswith("subject.")))
    return FormField(raw["label"], source, private, raw.get("type", "text"), bool(raw.get("optional", False)),
                     raw.get("label_cy"))


def _time(text: str | None, default: dt.time) -> dt.time:
    return dt.time.fromisoformat(text) if text else default



def _step(d: Mapping[str, Any], path: str, problems: list[tuple[str, str]], default_anchor: str,
          broken: Broken) -> Step:
    """A step; a timescale or anchor that cannot be read is reported, and the step is still built (with no
    timescale, or the default anchor) so that the steps referring to it are not reported as well."""
    try:
        due = Duration.parse(d["due"])
    except DurationError as exc:
        problems.append((f"{path}.due", str(exc)))
        broken.add(f"{path}.due")
        due = Duration(Unit.NONE, text=str(d["due"]))
    anchor_text = d.get("from", default_anchor)
    try:
        anchor = Anchor.parse(anchor_text)
    except ValueError:
        kinds = ", ".join(k.value for k in AnchorKind if k is not AnchorKind.STEP)
        problems.append((f"{path}.from", f"{anchor_text!r} is not an anchor; use one of {kinds} or step:<step id>"))
        broken.add(f"{path}.from")
        anchor = Anchor.parse(default_anchor)
    return Step(
        id=d["id"],
        title=d["title"],
        due=due,
        anchor=anchor,
        kind=StepKind(d.get("kind", "action")),
        by=Side(d.get("by", "raising")),
        level=Level(d["level"]) if "level" in d else None,
        to=d.get("to"),
        refs=tuple(d.get("refs", ())),
        stage_deadline=bool(d.get("stage_deadline", False)),
        protective_cap=bool(d.get("protective_cap", False)),
        when=d.get("when"),
        extendable=bool(d.get("extendable", False)),
        standing=bool(d.get("standing", False)),
        until_stage=d.get("until_stage"),
        timetable_stage=d.get("timetable_stage"),
        reading=d.get("reading"),
        source=d.get("source"),
        written_outcome=bool(d.get("written_outcome", False)),
        title_cy=d.get("title_cy"),
        resolved_at=d.get("resolved_at"),
    )


def _answer(d: Mapping[str, Any] | None) -> PreconditionAnswer:
    d = d or {}
    return PreconditionAnswer(advice=d.get("advice"), block=bool(d.get("block", False)), ask_date=d.get("ask_date"),
                              advice_cy=d.get("advice_cy"), ask_date_cy=d.get("ask_date_cy"))


def build(raw: Mapping[str, Any], problems: list[tuple[str, str]], broken: Broken) -> Protocol:
    cal = raw["calendar"]
    hours = cal.get("working_hours", {})
    stages: list[Stage] = []
    for i, s in enumerate(raw["stages"]):
        steps = [_step(st, f"stages[{i}].steps[{j}]", problems, "stage_start", broken)
                 for j, st in enumerate(s["steps"])]
        stages.append(
            Stage(
                id=s["id"],
                number=s["number"],
                title=s["title"],
                level=Level(s["level"]),
                sides=Side(s.get("sides", "both")),
                exceptional=bool(s.get("exceptional", False)),
                description=s.get("description", ""),
                steps=tuple(steps),
                records=tuple(
                    Record(
                        id=r["id"],
                        title=r["title"],
                        signed_by=tuple(r.get("signed_by", ())),
                        refs=tuple(r.get("refs", ())),
                        fields=tuple(r.get("fields", ())),
                        when=r.get("when"),
                        title_cy=r.get("title_cy"),
                    )
                    for r in s.get("records", ())
                ),
                forms=tuple(s.get("forms", ())),
                refs=tuple(s.get("refs", ())),
                title_cy=s.get("title_cy"),
                description_cy=s.get("description_cy"),
            )
        )
    milestones = [_step({**d, "kind": "milestone"}, f"milestones[{k}]", problems, "disagreement", broken)
                  for k, d in enumerate(raw.get("milestones", ()))]
    after = [_step(d, f"after_resolution[{k}]", problems, "resolution", broken)
             for k, d in enumerate(raw.get("after_resolution", ()))]
    ir = raw["immediate_risk"]
    bp = raw.get("bypass")
    un = raw.get("urgent_notice")
    rep = raw.get("reporting", {"cadence": "none"})
    try:
        meetings = {k: tuple(dt.date.fromisoformat(x) for x in v) for k, v in raw.get("meetings", {}).items()}
    except ValueError as exc:
        problems.append(("meetings", f"dates must be YYYY-MM-DD: {exc}"))
        broken.add("meetings")
        meetings = {}
    try:
        day_start = _time(hours.get("start"), dt.time(9))
        day_end = _time(hours.get("end"), dt.time(17))
    except ValueError as exc:
        if not broken("calendar.working_hours"):
            problems.append(("calendar.working_hours", str(exc)))
        broken.add("calendar.working_hours")
        day_start, day_end = dt.time(9), dt.time(17)
    return Protocol(
        id=raw["id"],
        name=raw["name"],
        version=raw["version"],
        ref_prefix=raw["ref_prefix"],
        nation=cal["nation"],
        timezone=cal.get("timezone", "Europe/London"),
        day_start=day_start,
        day_end=day_end,
        scope=tuple(raw["scope"]),
        categories=tuple(Category(c["id"], c["title"], c.get("title_cy")) for c in raw["categories"]),
        stages=tuple(stages),
        immediate_risk=ImmediateRisk(
            rule=ir["rule"],
            text=ir["text"],
            contacts=tuple(Contact(**c) for c in ir.get("contacts", ())),
            refs=tuple(ir.get("refs", ())),
            inform_safeguarding_lead=bool(ir.get("inform_safeguarding_lead", False)),
            text_cy=ir.get("text_cy"),
        ),
        recipients=dict(raw.get("recipients", {})),
        exclusions=tuple(Exclusion(e["id"], e["text"], tuple(e.get("refs", ())), e.get("text_cy"))
                         for e in raw.get("exclusions", ())),
        preconditions=tuple(
            Precondition(
                id=p["id"],
                question=p["question"],
                refs=tuple(p.get("refs", ())),
                only_if=tuple(sorted(p.get("only_if", {}).items())),
                on_yes=_answer(p.get("on_yes")),
                on_no=_answer(p.get("on_no")),
                question_cy=p.get("question_cy"),
            )
            for p in raw.get("preconditions", ())
        ),
        bypass=Bypass(
            to=bp["to"],
            reasons=tuple(BypassReason(r["id"], r["text"], r.get("text_cy")) for r in bp["reasons"]),
            refs=tuple(bp.get("refs", ())),
            note=bp.get("note"),
        )
        if bp
        else None,
        urgent_notice=UrgentNotice(un["title"], un["to"], un["when"], tuple(un.get("refs", ())), un.get("title_cy"))
        if un else None,
        after_resolution=tuple(after),
        milestones=tuple(milestones),
        forms=tuple(
            Form(
                id=f["id"],
                title=f["title"],
                stage=f.get("stage"),
                parts=tuple(
                    FormPart(p["id"], p["title"], p["by"], tuple(_form_field(x) for x in p.get("fields", ())),
                             p.get("due_step"), p.get("title_cy"))
                    for p in f["parts"]
                ),
                refs=tuple(f.get("refs", ())),
                contains_subject_details=bool(f.get("contains_subject_details", True)),
                send_to_role=f.get("send_to_role"),
                title_cy=f.get("title_cy"),
            )
            for f in raw.get("forms", ())
        ),
        reporting=Reporting(
            cadence=rep["cadence"],
            quarter_numbering=rep.get("quarter_numbering", "calendar"),
            refs=tuple(rep.get("refs", ())),
            log_columns=tuple(rep.get("log_columns", ())),
            note=rep.get("note"),
        ),
        meetings=meetings,
        schedule=_schedule(raw.get("schedule", {})),
        retention=_retention(raw.get("retention")),
        source=raw.get("source"),
        notes=tuple(raw.get("notes", ())),
        name_cy=raw.get("name_cy"),
        recipients_cy=dict(raw.get("recipients_cy", {})),
        channel_languages=tuple(raw.get("channel_languages", ("en",))),
        raw=dict(raw),
    )


def _schedule(d: Mapping[str, Any]) -> Schedule:
    base = Schedule()
    nudges = base.nudges
    if "nudges" in d:
        nudges = tuple(Nudge(n["working_days_before"], dt.time.fromisoformat(n["at"]) if n.get("at") else None)
                       for n in d["nudges"])
    return Schedule(
        nudges=nudges,
        renotify_after_working_hours=float(d.get("renotify_after_working_hours", base.renotify_after_working_hours)),
        renotify_max=int(d.get("renotify_max", base.renotify_max)),
        digest_cron=d.get("digest_cron", base.digest_cron),
        quarterly_cron=d.get("quarterly_cron", base.quarterly_cron),
    )


def _retention(d: Mapping[str, Any] | None) -> Retention:
    if not d:
        return Retention()
    return Retention(closed_case_years=int(d["closed_case_years"]), note=d.get("note"), refs=tuple(d.get("refs", ())))
