"""The rules of a board file that need the whole file (anchors, recipients, stage numbers, Welsh text ...),
checked on the built Protocol; each problem is added to ``problems`` as (path, message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.calendar import NATIONS
from protocol.schema import Broken
from protocol.spec import FORM_SOURCES, Protocol, Stage, Step, StepKind
from protocol.timescales import AnchorKind, Unit


def _dupes(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    return {i for i in ids if i in seen or seen.add(i)}  # type: ignore[func-returns-value]


def _placeholder(ident: str) -> bool:
    """An id filled in for a missing one (see ``protocol.schema.repaired``): never reported as a duplicate."""
    return ident.startswith("?")


def check_semantics(p: Protocol, raw: Mapping[str, Any], problems: list[tuple[str, str]], broken: Broken) -> None:
    if p.nation not in NATIONS:  # pragma: no cover - the schema enum already guards this
        problems.append(("calendar.nation", f"unknown nation {p.nation!r}"))
    if not p.day_start < p.day_end and not broken("calendar.working_hours"):
        problems.append(("calendar.working_hours", "start must be before end"))
    try:
        p.calendar()
    except Exception as exc:  # noqa: BLE001 - an unknown timezone, whatever zoneinfo raises for it
        if p.day_start < p.day_end:
            problems.append(("calendar.timezone", f"unknown timezone: {exc}"))

    stage_ids = [s.id for s in p.stages]
    for d in _dupes([i for i in stage_ids if not _placeholder(i)]):
        problems.append(("stages", f"stage id {d!r} is used twice"))
    numbers = [s.number for s in p.stages]
    numbers_ok = not any(broken(f"stages[{i}].number") for i in range(len(p.stages)))
    if numbers_ok and (numbers != sorted(numbers) or len(set(numbers)) != len(numbers)):
        problems.append(("stages", f"stage numbers must be unique and in ascending order, got {numbers}"))
    if p.stages and p.stages[0].exceptional:
        problems.append(("stages[0].exceptional", "the first stage cannot be exceptional"))

    all_steps = p.all_steps()
    step_ids = [st.id for _, st in all_steps]
    for d in _dupes([c.id for c in p.categories if not _placeholder(c.id)]):
        problems.append(("categories", f"category id {d!r} is used twice"))
    recipients_ok = not broken("recipients")

    # where each step lives in the raw file, for messages
    where: dict[str, str] = {}
    for i, s in enumerate(raw["stages"]):
        for j, st in enumerate(s["steps"]):
            where[st["id"]] = f"stages[{i}].steps[{j}]"
    for k, st in enumerate(raw.get("milestones", ())):
        where[st["id"]] = f"milestones[{k}]"
    for k, st in enumerate(raw.get("after_resolution", ())):
        where[st["id"]] = f"after_resolution[{k}]"
    # Duplicate step ids: name where the repeat is and where the id was first used. (This used to
    # be reported at the top level, so the message did not say where in the file to look.)
    first_at: dict[str, str] = {}
    located = [(st["id"], f"stages[{i}].steps[{j}]") for i, s in enumerate(raw["stages"])
               for j, st in enumerate(s["steps"])]
    located += [(st["id"], f"milestones[{k}]") for k, st in enumerate(raw.get("milestones", ()))]
    located += [(st["id"], f"after_resolution[{k}]") for k, st in enumerate(raw.get("after_resolution", ()))]
    for sid, at in located:
        if _placeholder(sid):
            continue
        if sid in first_at:
            problems.append((f"{at}.id", f"step id {sid!r} is already used at {first_at[sid]}; "
                                         "step ids must be unique across the file"))
        else:
            first_at[sid] = at

    order = {sid: i for i, sid in enumerate(step_ids)}
    for stage, st in all_steps:
        at = where.get(st.id, st.id)
        if st.anchor.kind is AnchorKind.STEP:
            if st.anchor.step not in order:
                problems.append((f"{at}.from", f"step {st.anchor.step!r} does not exist"))
            elif st.anchor.step == st.id:
                problems.append((f"{at}.from", "a step cannot be anchored on itself"))
            else:
                target_stage = p.step_stage(st.anchor.step)
                if stage is not None and target_stage is not None and target_stage.id != stage.id:
                    problems.append((f"{at}.from", "a step may only be anchored on a step of its own stage"))
        if st.anchor.kind is AnchorKind.PREVIOUS_STAGE_COMPLETED and stage is not None:
            if p.stage_index(stage.id) == 0:
                problems.append((f"{at}.from", "the first stage has no previous stage"))
        if st.anchor.kind is AnchorKind.RESOLUTION and st.when not in ("resolved",) and stage is not None \
                and not broken(f"{at}.when"):
            problems.append((f"{at}.when", "a step anchored on resolution must say when: resolved"))
        if st.to is not None and st.to not in p.recipients and recipients_ok:
            problems.append((f"{at}.to", f"recipient {st.to!r} is not declared under recipients:"))
        if st.due.unit is Unit.NEXT_MEETING and st.due.meeting not in p.meetings and not broken("meetings"):
            problems.append((f"{at}.due", f"no meeting calendar {st.due.meeting!r} under meetings:"))
        if st.kind is StepKind.MILESTONE and stage is not None:
            problems.append((at, "milestones belong under milestones:, not in a stage"))
        if st.protective_cap and st.due.unit in (Unit.NONE, Unit.IMMEDIATELY) and not broken(f"{at}.due"):
            problems.append((f"{at}.protective_cap", "only a step with a timescale can be capped by a protective date"))
        if st.written_outcome and st.anchor.kind is not AnchorKind.RESOLUTION and not broken(f"{at}.from"):
            problems.append((f"{at}.written_outcome", "a written outcome is sent after the resolution: "
                                                      "use from: resolution"))
        if st.stage_deadline and stage is None:
            problems.append((f"{at}.stage_deadline", "only a step inside a stage can be its stage deadline"))
        if st.resolved_at is not None:
            _check_follow_up(p, stage, st, at, problems, broken)
    for i, s in enumerate(p.stages):
        if sum(1 for st in s.steps if st.stage_deadline) > 1:
            problems.append((f"stages[{i}]", "a stage can have at most one stage_deadline step"))
        for f in s.forms:
            if f not in {fm.id for fm in p.forms} and not broken("forms"):
                problems.append((f"stages[{i}].forms", f"form {f!r} is not declared under forms:"))
    if p.bypass and p.bypass.to not in stage_ids and not broken("bypass.to"):
        problems.append(("bypass.to", f"stage {p.bypass.to!r} does not exist"))
    if p.urgent_notice and p.urgent_notice.to not in p.recipients and recipients_ok \
            and not broken("urgent_notice.to"):
        problems.append(("urgent_notice.to", f"recipient {p.urgent_notice.to!r} is not declared under recipients:"))
    pre_ids = [pc.id for pc in p.preconditions]
    for k, pc in enumerate(p.preconditions):
        for dep, _ in pc.only_if:
            if dep not in pre_ids[:k]:
                problems.append((f"preconditions[{k}].only_if", f"{dep!r} must be an earlier precondition"))
    for k, form in enumerate(p.forms):
        if form.stage and form.stage not in stage_ids:
            problems.append((f"forms[{k}].stage", f"stage {form.stage!r} does not exist"))
        for m, part in enumerate(form.parts):
            if part.due_step and part.due_step not in order:
                problems.append((f"forms[{k}].parts[{m}].due_step", f"step {part.due_step!r} does not exist"))
            for j, fld in enumerate(part.fields):
                src = fld.source
                if src is None or src in FORM_SOURCES:
                    continue
                bits = src.split(".")
                if len(bits) == 3 and bits[0] == "form" and bits[2] == "on" and bits[1] in {x.id for x in form.parts}:
                    continue
                problems.append((f"forms[{k}].parts[{m}].fields[{j}].from", f"unknown source {src!r}"))
    if not p.immediate_risk.text.strip() and not broken("immediate_risk.text"):
        problems.append(("immediate_risk.text", "must say what to do"))
    for key in p.recipients_cy:
        if key not in p.recipients and recipients_ok:
            problems.append((f"recipients_cy.{key}", f"recipient {key!r} is not declared under recipients:"))
    if "cy" in p.channel_languages:
        _check_welsh(p, problems)


def _check_follow_up(p: Protocol, stage: Stage | None, st: Step, at: str, problems: list[tuple[str, str]],
                     broken: Broken) -> None:
    """``resolved_at: <sub-step>``: a follow-up owed only if the stage was resolved at that sub-step."""
    if stage is None:
        problems.append((f"{at}.resolved_at", "only a step inside a stage can follow one of the stage's sub-steps"))
        return
    if st.when != "resolved" and not broken(f"{at}.when"):
        problems.append((f"{at}.when", "a step with resolved_at applies only if the stage is resolved: "
                                       "add when: resolved"))
    own = {x.id: x for x in stage.steps}
    target = own.get(st.resolved_at or "")
    if target is None:
        elsewhere = any(x.id == st.resolved_at for _, x in p.all_steps())
        problems.append((f"{at}.resolved_at", f"step {st.resolved_at!r} is not a step of this stage"
                         if elsewhere else f"step {st.resolved_at!r} does not exist"))
    elif target not in stage.sub_steps():
        problems.append((f"{at}.resolved_at", f"step {st.resolved_at!r} is not a sub-step: name an action of this "
                                              "stage that always applies (no when:, not standing)"))


def _check_welsh(p: Protocol, problems: list[tuple[str, str]]) -> None:
    """A board that posts in Welsh (``channel_languages`` has ``cy``) gives the Welsh of every text a case
    shows: the board's name, categories, stages, steps, records, recipients and what to do at immediate risk
    (forms are not translated yet)."""
    missing: list[str] = []
    if not p.name_cy:
        missing.append("name_cy")
    missing += [f"categories[{i}].title_cy" for i, c in enumerate(p.categories) if not c.title_cy]
    missing += [f"exclusions[{i}].text_cy" for i, e in enumerate(p.exclusions) if not e.text_cy]
    if not p.immediate_risk.text_cy:
        missing.append("immediate_risk.text_cy")
    for i, c in enumerate(p.immediate_risk.contacts):
        if not c.label_cy:
            missing.append(f"immediate_risk.contacts[{i}].label_cy")
        if c.note and not c.note_cy:
            missing.append(f"immediate_risk.contacts[{i}].note_cy")
    missing += [f"recipients_cy.{k}" for k in p.recipients if k not in p.recipients_cy]
    for k, f in enumerate(p.forms):
        if not f.title_cy:
            missing.append(f"forms[{k}].title_cy")
        for m, part in enumerate(f.parts):
            if not part.title_cy:
                missing.append(f"forms[{k}].parts[{m}].title_cy")
            missing += [f"forms[{k}].parts[{m}].fields[{j}].label_cy" for j, fld in enumerate(part.fields)
                        if not fld.label_cy]
    for i, pc in enumerate(p.preconditions):
        if not pc.question_cy:
            missing.append(f"preconditions[{i}].question_cy")
        for side, ans in (("on_yes", pc.on_yes), ("on_no", pc.on_no)):
            if ans.advice and not ans.advice_cy:
                missing.append(f"preconditions[{i}].{side}.advice_cy")
            if ans.ask_date and not ans.ask_date_cy:
                missing.append(f"preconditions[{i}].{side}.ask_date_cy")
    for i, s in enumerate(p.stages):
        if not s.title_cy:
            missing.append(f"stages[{i}].title_cy")
        if s.description and not s.description_cy:
            missing.append(f"stages[{i}].description_cy")
        missing += [f"stages[{i}].records[{j}].title_cy" for j, r in enumerate(s.records) if not r.title_cy]
        missing += [f"stages[{i}].steps[{j}].title_cy" for j, st in enumerate(s.steps) if not st.title_cy]
    missing += [f"milestones[{k}].title_cy" for k, st in enumerate(p.milestones) if not st.title_cy]
    missing += [f"after_resolution[{k}].title_cy" for k, st in enumerate(p.after_resolution) if not st.title_cy]
    if p.bypass:
        missing += [f"bypass.reasons[{k}].text_cy" for k, r in enumerate(p.bypass.reasons) if not r.text_cy]
    if p.urgent_notice and not p.urgent_notice.title_cy:
        missing.append("urgent_notice.title_cy")
    for where in missing:
        problems.append((where, "channel_languages includes cy, so the Welsh text is needed here"))
