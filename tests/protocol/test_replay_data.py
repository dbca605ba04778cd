"""A replay kept and carried on instead of replayed from the start (protocol.engine.replay / state_at and
protocol.replay.Replay's copy, to_data and from_data): the same state as evaluating every event, at any moment."""

from __future__ import annotations

import json

import pytest

from protocol.engine import evaluate, replay, state_at
from protocol.replay import Replay
from protocol.state import Event
from tests.protocol.helpers import ev, t
from tests.protocol.test_engine import CV, MWW, SWN, WOL

# cases taken through most kinds of event. Swindon: a contact naming a step, a refusal (no kind the engine reads), a
# flag, a protective date, an outcome that moves it on (dated before it was recorded), resolved with a flag.
# Cardiff & Vale: a step done, an extension with its reason, a bypass to the chair with its reason, closed.
SWINDON = [
    ev("opened", "2026-04-02T10:00", arose_on="2026-04-01"),
    ev("contact", "2026-04-02T11:00", step="internal-discussion", on="2026-04-02"),
    ev("refused", "2026-04-02T11:30", action="close"),
    ev("flag", "2026-04-03T09:00", name="policy_gap", value=False),
    ev("protective_date", "2026-04-07T09:00", date="2026-04-20"),
    ev("outcome", "2026-04-09T12:00", resolved=False, text="no", on="2026-04-08"),
    ev("outcome", "2026-05-01T15:00", resolved=True, text="ok", flags={"policy_gap": True}),
]
CARDIFF = [
    ev("opened", "2026-04-02T10:00", arose_on="2026-04-02"),
    ev("step_done", "2026-04-02T11:00", step="raise-with-manager", on="2026-04-02"),
    ev("extended", "2026-04-03T09:00", step="manager-attempt", until="2026-04-10", reason="on leave"),
    ev("bypassed", "2026-04-08T09:00", reason="media-political", details="x"),
    ev("closed", "2026-04-20T09:00", reason="moved"),
]
MOMENTS = ["2026-04-02T10:00", "2026-04-08T16:59", "2026-04-09T09:00", "2026-04-21T12:00", "2027-01-01T00:00"]


@pytest.mark.parametrize("proto, history", [(SWN, SWINDON), (CV, CARDIFF)], ids=["swindon", "cardiff-and-vale"])
def test_a_replay_carried_on_event_by_event_is_the_evaluation_of_all_of_them(proto, history) -> None:
    for k in range(1, len(history) + 1):
        events = history[:k]
        carried = replay(proto, events[:1])
        for e in events[1:]:
            nxt = carried.copy()
            before = carried.to_data()
            nxt.apply(e)
            assert carried.to_data() == before  # a copy carries on; the replay it came from is unchanged
            carried = nxt
        stored = Replay.from_data(proto, json.loads(json.dumps(carried.to_data())))
        assert stored.to_data() == carried.to_data()
        for now in MOMENTS:
            want = evaluate(proto, events, t(now))
            assert state_at(carried, t(now)) == want
            assert state_at(stored, t(now)) == want
    assert evaluate(proto, history, t(MOMENTS[-1])).status.value in ("resolved", "closed")


def test_a_state_keeps_its_own_stage_visits_when_the_replay_goes_on() -> None:
    r = replay(SWN, SWINDON[:2])
    earlier = state_at(r, t("2026-04-02T12:00"))
    r.apply(SWINDON[5])  # the outcome ends Stage 1
    assert earlier.visits[0].completed_at is None and earlier == evaluate(SWN, SWINDON[:2], t("2026-04-02T12:00"))


@pytest.mark.parametrize("proto", [SWN, WOL, CV, MWW], ids=lambda p: p.id)
def test_a_replay_from_data_that_names_a_stage_the_protocol_lacks_is_refused(proto) -> None:
    data = replay(proto, [Event("opened", t("2026-04-02T10:00"), {})]).to_data()
    data["visits"][0][0] = "no-such-stage"
    with pytest.raises(KeyError):
        Replay.from_data(proto, data)


def test_to_data_keeps_every_attribute_of_a_replay() -> None:
    """A new attribute of Replay must be stored too (and bot/cases/plans.py's PLAN_VERSION bumped), or a case's
    stored replay would lose it."""
    assert set(vars(Replay(SWN))) - {"p"} == set(Replay(SWN).to_data())
