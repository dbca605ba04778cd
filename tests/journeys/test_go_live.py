"""README's "Going live", followed to the letter on an empty database (no demo data), on SQLite and PostgreSQL:
`parley db upgrade`, `parley directory import` of the template in docs/directory-template/, `parley directory check`
until it lists nothing; then a case runs on the imported board with its people on Slack and Teams as the sheet
says, and every message reaches exactly the person or channel the sheet names, on the platform it names.

Who is who (docs/directory-template/people.csv): Alice Hughes (police constable, Slack) raises a case against Bob
Evans (CSC social worker, Teams). Alice's line manager is Sam Patel (Slack); Bob's is Mia Roberts (Teams); the
business unit's channel is Slack's C01BUSUNIT; the line managers' channels are C01POLSGT (Slack) for the police and
19:csc-team-managers@thread.tacv2 (Teams) for CSC. Expected recipients are written here from the protocol and
docs/notifications.md, as tests/journeys/test_swindon_journey.py's are for the demo directory.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from adapters.cli import app
from bot.core.clock import FixedClock
from bot.delivery.delivery import Deliverer
from bot.escalation.scheduler import Sweeper
from bot.runtime import Runtime
from storage import repo
from tests.conftest import Chat
from tests.journeys.harness import Recorder, at
from tests.journeys.test_swindon_journey import INTAKE

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "directory-template"
POLICE_SGTS, CSC_MANAGERS, BUSINESS_UNIT = "C01POLSGT", "19:csc-team-managers@thread.tacv2", "C01BUSUNIT"


def test_a_board_goes_live_from_the_template_alone(db_url) -> None:
    cli = CliRunner()
    done = cli.invoke(app, ["db", "upgrade", "--db", db_url])
    assert done.exit_code == 0, done.output
    done = cli.invoke(app, ["directory", "import", str(TEMPLATE), "--board", "swindon", "--db", db_url])
    assert done.exit_code == 0, done.output
    done = cli.invoke(app, ["directory", "check", "--board", "swindon", "--db", db_url])
    assert done.exit_code == 0 and "missing" not in done.output, done.output

    rt = Runtime(db_url)
    clock = FixedClock(at(2026, 4, 2, 10))
    recorders = {"slack": Recorder(platform="slack"), "teams": Recorder(platform="teams")}
    with rt.factory() as s:
        people = list(repo.people("swindon", session=s))
        assert len(people) == 19  # the template's, and nobody from the demo
        for r in recorders.values():
            r.keys = {p.id: p.key for p in people}
    chat, sweeper = Chat(rt, clock, "swindon"), Sweeper(rt.factory, clock)
    deliverer = Deliverer(rt.factory, recorders, clock, "go-live", board_id=lambda: "swindon")
    sweeper.ensure_board_timers()
    seen = {name: 0 for name in recorders}

    def delivered() -> Counter[tuple[str, str, str]]:
        deliverer.deliver()
        got: Counter[tuple[str, str, str]] = Counter()
        for name, r in recorders.items():
            got.update((name, g.to, g.message.kind or "?") for g in r.got[seen[name]:])
            seen[name] = len(r.got)
        return got

    def say(who: str, *answers: str) -> Counter[tuple[str, str, str]]:
        for a in answers:
            chat.say(who, a)
        return delivered()

    def to(moment) -> Counter[tuple[str, str, str]]:
        clock.set(moment)
        sweeper.sweep()
        return delivered()

    got = say("alice-hughes", *INTAKE)
    assert got == Counter({("teams", "bob-evans", "case_opened"): 1, ("slack", "sam-patel", "case_opened"): 1})
    with rt.factory() as s:
        case = next(iter(repo.cases_involving(repo.person_by_key("swindon", "alice-hughes", session=s), session=s)))
        ref = case.ref
    assert ref.startswith("SWN-2026-")
    # Stage 1 (due Wed 8 Apr) reminders the working day before to those who owe it, with the digest
    assert to(at(2026, 4, 7, 9, 5)) == Counter({("slack", "alice-hughes", "nudge"): 1,
                                                ("slack", "sam-patel", "nudge"): 1,
                                                ("slack", BUSINESS_UNIT, "digest"): 1})
    got = say("alice-hughes", f"outcome {ref}", "Not resolved", "Sam and I agree the referral must be re-opened.")
    assert got == Counter({("teams", "bob-evans", "not_resolved"): 1, ("slack", "sam-patel", "not_resolved"): 1})
    assert to(at(2026, 4, 13, 9, 5)) == Counter({("slack", "alice-hughes", "nudge"): 1,
                                                 ("teams", "bob-evans", "nudge"): 1,
                                                 ("slack", BUSINESS_UNIT, "digest"): 1})
    # Stage 2 lapses: each agency's line-manager channel, on its own platform, is asked to take it on
    assert to(at(2026, 4, 15, 9, 5)) == Counter({("slack", POLICE_SGTS, "lapse_prompt"): 1,
                                                 ("teams", CSC_MANAGERS, "lapse_prompt"): 1,
                                                 ("slack", "alice-hughes", "lapse_notice"): 1,
                                                 ("teams", "bob-evans", "lapse_notice"): 1})
    rt.engine.dispose()
