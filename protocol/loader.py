"""Load and validate board protocols written as YAML (see docs/protocol-format.md).

Errors name the file, the path inside it and what is wrong, e.g.
``swindon.yaml: stages[1].steps[0].due: '5 workin days' is not a duration ...``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from protocol.calendar import NATIONS
from protocol.spec import (
    Anchor,
    AnchorKind,
    Bypass,
    BypassReason,
    Category,
    Contact,
    Duration,
    DurationError,
    Exclusion,
    FORM_SOURCES,
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
    Unit,
    UrgentNotice,
)

SCHEMA_VERSION = 1
BOARDS_DIR = Path(__file__).parent / "boards"


class ProtocolError(ValueError):
    """A protocol file is not valid. ``problems`` lists every problem found as (path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path or '(top level)'}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("protocol").joinpath("protocol.schema.json").read_text("utf-8"))
    return schema


_VALIDATOR = Draft202012Validator(_schema())


def _path(parts: list[Any] | tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


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


def list_board_files() -> list[Path]:
    return sorted(BOARDS_DIR.glob("*.yaml"))


def board_ids() -> list[str]:
    return [p.stem for p in list_board_files()]


def load_board(board_id_or_path: str | Path) -> Protocol:
    """A board id (``swindon``) from protocol/boards, or a path to a YAML file."""
    p = Path(board_id_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_file(p)
    candidate = BOARDS_DIR / f"{board_id_or_path}.yaml"
    if not candidate.exists():
        raise ProtocolError(
            str(board_id_or_path),
            [("", f"no such board; known boards: {', '.join(board_ids())}")],
        )
    return load_file(candidate, source=candidate.name)


def load_file(path: str | Path, source: str | None = None) -> Protocol:
    """Load a board file. Problems are reported against ``source`` (default: the path as given), and the
    board's ``id`` must be the file's name without ``.yaml``."""
    path = Path(path)
    source = source if source is not None else str(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ProtocolError(source, [("", f"cannot read file: {exc.strerror or exc}")]) from exc
    return load_text(text, source=source, file_name=path.name)


def load_text(text: str, source: str = "<protocol>", file_name: str | None = None) -> Protocol:
    """``file_name``, when the text comes from a file: the board's id must be that name without .yaml."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ProtocolError(source, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if not isinstance(data, Mapping):
        raise ProtocolError(source, [("", "the file must contain a mapping (id:, name:, stages: ...)")])
    return load_data(data, source=source, file_name=file_name)


def load_data(data: Mapping[str, Any], source: str = "<protocol>", file_name: str | None = None) -> Protocol:
    """Validate plain data (from YAML, or a stored snapshot) and build the Protocol.

    Every problem is reported in one go: the schema's (a missing key, a wrong type, a misspelt key) and then
    the checks that need the whole file (anchors, recipients, stage numbers ...). Where a value is missing or
    unusable, the checks that depend on it are skipped rather than reported a second time.
    """
    raw = _json_safe(data)
    errors = sorted(_VALIDATOR.iter_errors(raw),
                    key=lambda e: [(0, x) if isinstance(x, int) else (1, x) for x in e.absolute_path])
    problems: list[tuple[str, str]] = [(_path(list(e.absolute_path)), e.message) for e in errors]
    broken = _Broken()
    usable = _repaired(raw, errors, broken) if errors else raw
    proto = None
    if usable is not None:
        reported = len(problems)
        try:
            proto = _build(usable, problems, broken)
            _check_semantics(proto, usable, problems, broken)
        except (KeyError, TypeError, ValueError, AttributeError):
            if not errors:
                raise
            # a shape the repairs did not foresee: the schema's problems stand on their own
            del problems[reported:]
            proto = None
    if file_name is not None:
        stem = Path(file_name).stem
        board_id = raw.get("id")
        if isinstance(board_id, str) and board_id != stem:
            problems.append(("id", f"the board id {board_id!r} does not match the file name {file_name!r}: a board's "
                                   f"id is its file name without .yaml (rename the file to '{board_id}.yaml' or "
                                   f"change id: to {stem!r})"))
    if problems:
        raise ProtocolError(source, problems)
    assert proto is not None
    return proto


class _Broken:
    """The places in a file whose value is missing or unusable (already reported), so that the checks which
    depend on them are skipped instead of reporting a consequence of the same mistake."""

    def __init__(self) -> None:
        self.paths: set[str] = set()

    def add(self, path: str) -> None:
        self.paths.add(path)

    def __call__(self, path: str) -> bool:
        """True if ``path``, something inside it, or something it is inside is broken."""
        return any(b == path or b.startswith((path + ".", path + "[")) or path.startswith((b + ".", b + "["))
                   for b in self.paths)


# What a missing required value is replaced by so that the rest of the file can still be checked. The
# replacement is never reported (the schema's message is) and the checks that read it are skipped.
_FILL: dict[str, Any] = {
    "name": "", "version": "", "ref_prefix": "", "title": "", "text": "", "label": "", "question": "",
    "to": "", "by": "", "when": "", "calendar": {"nation": "england-and-wales"}, "nation": "england-and-wales",
    "scope": [], "categories": [], "stages": [], "steps": [], "reasons": [], "parts": [],
    "immediate_risk": {"rule": "advisory", "text": ""}, "rule": "advisory", "number": 0,
    "level": "practitioner", "due": "none", "cadence": "none", "closed_case_years": 6, "working_days_before": 0,
}
# refusals that leave the value usable (a malformed id is still the name other places use)
_KEEP_VALUE = {"pattern", "minLength", "maxLength", "minItems", "uniqueItems", "minimum", "maximum", "format"}
_DROP = object()


def _repaired(raw: dict[str, Any], errors: list[Any], broken: _Broken) -> dict[str, Any] | None:
    """A copy of ``raw`` in which every value the schema refused is left out (an unknown key, a wrong type, a
    value not in the list) and every missing required value is filled in, so that the file can be built and its
    other rules checked. None when its structure is too broken for that (a stage that is not a mapping, say);
    then only the schema's problems are reported."""
    data = copy.deepcopy(raw)

    def locate(loc: list[Any]) -> Any:
        node: Any = data
        for part in loc:
            node = node[part]
        return node

    for _ in range(4):  # leaving a value out can make a required key missing: fill it on the next pass
        actionable = [e for e in errors if e.validator not in _KEEP_VALUE]
        for e in errors:
            here = _path(list(e.absolute_path))
            if e.validator == "required":
                missing = [k for k in e.validator_value if isinstance(e.instance, dict) and k not in e.instance]
                for key in missing:
                    broken.add(f"{here}.{key}" if here else key)
            elif e.validator != "additionalProperties":
                broken.add(here)
        if not actionable:
            return data
        # deepest first, so a replaced container does not hide the repairs inside it
        for e in sorted(actionable, key=lambda e: len(e.absolute_path), reverse=True):
            loc = list(e.absolute_path)
            here = _path(loc)
            try:
                node = locate(loc)
            except (KeyError, IndexError, TypeError):
                continue  # inside something already left out
            if e.validator == "additionalProperties" and isinstance(node, dict):
                allowed = e.schema.get("properties", {})
                for key in [k for k in node if k not in allowed]:
                    node.pop(key)
            elif e.validator == "required" and isinstance(node, dict):
                for key in e.validator_value:
                    if key in node:
                        continue
                    if key == "id":
                        node[key] = f"?{here}"  # never a valid id: nothing can refer to it by accident
                    elif key in _FILL:
                        node[key] = copy.deepcopy(_FILL[key])
                    else:
                        return None
            elif not loc:
                return None
            elif isinstance(loc[-1], int):
                if e.schema.get("type") == "object" or "oneOf" in e.schema or "$ref" in e.schema:
                    return None  # a stage, step, form field ... that is not a mapping: its place would shift
                locate(loc[:-1])[loc[-1]] = _DROP  # a bad entry in a list of plain values (scope, refs ...)
            else:
                locate(loc[:-1]).pop(loc[-1])
        data = _without_dropped(data)
        errors = list(_VALIDATOR.iter_errors(data))
    return None


def _without_dropped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_dropped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_dropped(v) for v in node if v is not _DROP]
    return node


# --------------------------------------------------------------------------------------------
def _step(d: Mapping[str, Any], path: str, problems: list[tuple[str, str]], default_anchor: str,
          broken: _Broken) -> Step:
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


def _build(raw: Mapping[str, Any], problems: list[tuple[str, str]], broken: _Broken) -> Protocol:
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


def _dupes(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    return {i for i in ids if i in seen or seen.add(i)}  # type: ignore[func-returns-value]


def _placeholder(ident: str) -> bool:
    """An id filled in for a missing one (see ``_repaired``): never reported as a duplicate."""
    return ident.startswith("?")


def _check_semantics(p: Protocol, raw: Mapping[str, Any], problems: list[tuple[str, str]], broken: _Broken) -> None:
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
                     broken: _Broken) -> None:
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


def snapshot(p: Protocol) -> dict[str, Any]:
    """Plain data to store with a case; ``load_data(snapshot(p))`` gives an equal Protocol."""
    return {"schema_version": SCHEMA_VERSION, "protocol": p.raw}


def from_snapshot(data: Mapping[str, Any]) -> Protocol:
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ProtocolError("snapshot",
                            [("schema_version", f"unsupported snapshot version {data.get('schema_version')!r}")])
    return load_data(data["protocol"], source="snapshot")
