"""Replaying a case's events in order: which stage it is at, what has been done, resolved or extended. An
event that is not allowed where it comes (a second 'opened', an outcome for a closed case ...) raises
``TransitionError``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from protocol.spec import Protocol, Stage, Step
from protocol.state import (ENGINE_EVENTS, Event, Moment, StageVisit, Status, TransitionError, moment_data,
                            moment_from_data, parse_moment)


class Replay:
    """What a case's events add up to. Stored as data (``to_data``) with each case's timer plan and carried on from
    there: every attribute but the protocol is in that data (a test checks it), and a change to how events fold in
    means every stored replay is out of date (the bot's plans name a version for that)."""

    def __init__(self, protocol: Protocol):
        self.p = protocol
        self.status: Status | None = None
        self.arose_on: dt.date | None = None
        self.raised_at: dt.datetime | None = None
        self.protective_date: dt.date | None = None
        self.visits: list[StageVisit] = []
        self.done: dict[str, Moment] = {}
        self.extensions: dict[str, tuple[dt.date, str]] = {}
        self.flags: dict[str, Any] = {}
        self.resolved_at: Moment | None = None
        self.closed_at: Moment | None = None
        self.awaiting: Stage | None = None
        self.resolved_stage: Stage | None = None
        self.resolved_step: str | None = None

    @property
    def current(self) -> StageVisit | None:
        return self.visits[-1] if self.visits else None

    def copy(self) -> Replay:
        """Another replay of the same events, to go on with without changing this one."""
        other = Replay(self.p)
        other.__dict__.update(self.__dict__)
        other.visits = [replace(v) for v in self.visits]
        other.done, other.extensions, other.flags = dict(self.done), dict(self.extensions), dict(self.flags)
        return other

    def to_data(self) -> dict[str, Any]:
        """The replay as JSON-ready data (``from_data`` with the same protocol gives it back)."""
        m = moment_data
        return {
            "status": self.status.value if self.status else None,
            "arose_on": m(self.arose_on), "raised_at": m(self.raised_at), "protective_date": m(self.protective_date),
            "visits": [[v.stage.id, m(v.entered_at), v.how, v.reason, m(v.completed_at), v.outcome]
                       for v in self.visits],
            "done": {k: m(v) for k, v in self.done.items()},
            "extensions": {k: [until.isoformat(), why] for k, (until, why) in self.extensions.items()},
            "flags": dict(self.flags),
            "resolved_at": m(self.resolved_at), "closed_at": m(self.closed_at),
            "awaiting": self.awaiting.id if self.awaiting else None,
            "resolved_stage": self.resolved_stage.id if self.resolved_stage else None,
            "resolved_step": self.resolved_step,
        }

    @classmethod
    def from_data(cls, protocol: Protocol, data: Mapping[str, Any]) -> Replay:
        """The replay ``to_data`` wrote, for ``protocol`` (KeyError or ValueError when it does not fit it)."""
        r = cls(protocol)
        r.status = Status(data["status"]) if data["status"] else None
        r.arose_on = _date(moment_from_data(data["arose_on"]))
        raised = moment_from_data(data["raised_at"])
        r.raised_at = raised if isinstance(raised, dt.datetime) else None
        r.protective_date = _date(moment_from_data(data["protective_date"]))
        r.visits = []
        for stage_id, entered, how, reason, completed, outcome in data["visits"]:
            entered_at = moment_from_data(entered)
            if entered_at is None:
                raise ValueError("a stage visit without its start")
            r.visits.append(StageVisit(protocol.stage(stage_id), entered_at, how, reason,
                                       moment_from_data(completed), outcome))
        r.done = {}
        for step_id, text in data["done"].items():
            protocol.step(step_id)  # KeyError for a step this protocol does not have
            done_at = moment_from_data(text)
            if done_at is None:
                raise ValueError(f"step {step_id!r} done at no moment")
            r.done[step_id] = done_at
        r.extensions = {k: (dt.date.fromisoformat(until), str(why)) for k, (until, why) in data["extensions"].items()}
        r.flags = dict(data["flags"])
        r.resolved_at = moment_from_data(data["resolved_at"])
        r.closed_at = moment_from_data(data["closed_at"])
        r.awaiting = protocol.stage(data["awaiting"]) if data["awaiting"] else None
        r.resolved_stage = protocol.stage(data["resolved_stage"]) if data["resolved_stage"] else None
        r.resolved_step = data["resolved_step"]
        return r

    def _require(self, ok: bool, msg: str) -> None:
        if not ok:
            raise TransitionError(msg)

    def _step(self, step_id: Any) -> Step:
        # An event naming a step this protocol does not have is an illegal event (TransitionError),
        # not a programming error: it used to escape as a bare KeyError from Protocol.step().
        try:
            return self.p.step(str(step_id))
        except KeyError:
            raise TransitionError(f"this protocol has no step {step_id!r}") from None

    def _enter(self, stage: Stage, at: Moment, how: str, reason: str | None = None) -> None:
        self.visits.append(StageVisit(stage, at, how, reason))
        self.status = Status.OPEN
        self.awaiting = None

    def apply(self, ev: Event) -> None:
        k, d = ev.kind, ev.data
        if k not in ENGINE_EVENTS:
            return
        if k == "opened":
            self._require(self.status is None, "the case is already open")
            self.raised_at = ev.at
            arose = parse_moment(d.get("arose_on"))
            self.arose_on = arose if isinstance(arose, dt.date) and not isinstance(arose, dt.datetime) else (
                arose.date() if isinstance(arose, dt.datetime) else self.p.calendar().local_date(ev.at)
            )
            pd = parse_moment(d.get("protective_date"))
            self.protective_date = pd if isinstance(pd, dt.date) and not isinstance(pd, dt.datetime) else None
            if d.get("bypass_to"):
                self._require(self.p.bypass is not None and self.p.bypass.to == d["bypass_to"],
                              "this protocol has no bypass to that stage")
                # CV-15: a bypass is always recorded with its reason, as the 'bypassed' event requires;
                # opening straight at the bypass stage used to accept no reason at all.
                self._require(bool(d.get("bypass_reason")), "a bypass needs a recorded reason")
                self._enter(self.p.stage(d["bypass_to"]), ev.at, "bypass", d.get("bypass_reason"))
            else:
                self._enter(self.p.first_stage(), ev.at, "start")
            return
        self._require(self.status is not None, "the case has not been opened")
        if k in ("step_done", "contact"):
            step_id = d.get("step")
            if step_id:
                self._step(step_id)  # TransitionError for an unknown step
                self._require(step_id not in self.done, f"step {step_id!r} is already recorded as done")
                self.done[step_id] = ev.effective
            return
        if k == "flag":
            self.flags[str(d["name"])] = d.get("value", True)
            return
        if k == "protective_date":
            self._require(self.status in (Status.OPEN, Status.AWAITING_DECISION), "the case is not open")
            pd = parse_moment(d.get("date"))
            self.protective_date = pd if isinstance(pd, dt.date) and not isinstance(pd, dt.datetime) else None
            return
        if k == "extended":
            self._require(self._step(d.get("step")).extendable, "that step cannot be extended")
            self.extensions[d["step"]] = (dt.date.fromisoformat(str(d["until"])), str(d.get("reason", "")))
            return
        if k == "closed":
            self._require(self.status in (Status.OPEN, Status.AWAITING_DECISION), "the case is not open")
            self.status = Status.CLOSED
            self.closed_at = ev.effective
            if self.current and self.current.completed_at is None:
                self.current.completed_at = ev.effective
                self.current.outcome = "closed"
            return
        if k == "outcome":
            self._require(self.status is Status.OPEN, "there is no stage in progress to record an outcome for")
            cur = self.current
            assert cur is not None
            cur.completed_at = ev.effective
            if d.get("resolved"):
                cur.outcome = "resolved"
                self.status = Status.RESOLVED
                self.resolved_at = ev.effective
                self.resolved_stage = cur.stage
                self.resolved_step = resolution_step(cur.stage, self.done, d.get("at_step"))
                for name, value in (d.get("flags") or {}).items():
                    self.flags[str(name)] = value
                return
            cur.outcome = "unresolved"
            nxt = self.p.next_stage(cur.stage.id)
            if nxt is None:
                self.status = Status.CLOSED
                self.closed_at = ev.effective
            elif nxt.exceptional:
                self.status = Status.AWAITING_DECISION
                self.awaiting = nxt
            else:
                self._enter(nxt, ev.effective, "escalation")
            return
        if k == "escalated":
            self._require(self.status is Status.AWAITING_DECISION and self.awaiting is not None,
                          "only a case awaiting a decision can be escalated to an exceptional stage")
            assert self.awaiting is not None
            self._enter(self.awaiting, ev.effective, "decision", d.get("reason"))
            return
        if k == "bypassed":
            self._require(self.status is Status.OPEN, "the case is not open")
            bp = self.p.bypass
            self._require(bp is not None, "this protocol has no bypass route")
            assert bp is not None and self.current is not None
            self._require(self.p.stage_index(self.current.stage.id) < self.p.stage_index(bp.to),
                          "the case is already at or past the bypass stage")
            self._require(bool(d.get("reason")), "a bypass needs a recorded reason")
            self.current.completed_at = ev.effective
            self.current.outcome = "bypassed"
            self._enter(self.p.stage(bp.to), ev.effective, "bypass", d.get("reason"))
            return


def _date(value: Moment | None) -> dt.date | None:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None


def resolution_step(stage: Stage, done: Mapping[str, Any], named: Any = None) -> str | None:
    """The sub-step at which a stage was resolved: the one the outcome names (``at_step``), else the sub-step
    in progress when the outcome was recorded, i.e. the first not yet recorded as done (the last one if all
    are done). None for a stage with no sub-steps."""
    subs = [st.id for st in stage.sub_steps()]
    if not subs:
        return None
    if named in subs:
        return str(named)
    return next((sid for sid in subs if sid not in done), subs[-1])
