"""End-to-end through the console adapter's I/O loop (and once through the real `parley` CLI):
a full case for each seed protocol, from intake to the top stage and resolution, checking the
deadlines and reasons the bot prints. Timescale ids are cited beside each expectation.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.console.app import ConsoleApp
from tests.conftest import LONDON

pytestmark = pytest.mark.e2e

START = dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)  # Thu 2 Apr 2026: Easter follows
INTAKE_TAIL = ["today", "Bob Evans, Social Worker"]


def run_console(runtime, board: str, lines: list[str]) -> str:
    out = io.StringIO()
    app = ConsoleApp(runtime, board, out=out, start=START)
    app.run(io.StringIO("\n".join(lines) + "\n"))
    return out.getvalue()


def assert_in_order(output: str, expected: list[str]) -> None:
    pos = 0
    for want in expected:
        found = output.find(want, pos)
        assert found >= 0, f"expected (after position {pos}):\n  {want}\n--- output from there ---\n{output[pos:pos + 3000]}"
        pos = found + len(want)


def test_swindon_full_case(sqlite_runtime) -> None:
    ref = "SWN-2026-0001"
    out = run_console(sqlite_runtime, "swindon", [
        "new", "no", "no", "1", "Referral closed after one visit", "Phoned the duty social worker",
        "Re-open and assess", "today", "Swindon Children's Social Care", "Bob Evans, Social Worker",
        "Jamie Doe", "skip", "Submit",
        "/clock 2026-04-08 16:00", f"outcome {ref}", "Not resolved", "Still disagree after internal discussion",
        "/as bob", f"contact {ref}", "today", "Alice Hughes, PC", "Phone call", "No agreement",
        "Inter-agency discussion with the other professional",
        "/clock 2026-04-15 16:00", f"outcome {ref}", "Not resolved", "We still disagree",
        "/as sam", "/clock 2026-04-22 16:00", f"outcome {ref}", "Not resolved", "Managers could not agree",
        "/as cara", "/clock 2026-04-29 16:00", f"outcome {ref}", "Not resolved", "Heads of service could not agree",
        "/clock 2026-05-08 10:00",
        "/as una", f"done {ref}", "1", "yesterday",
        f"outcome {ref}", "Not resolved", "No multi-agency resolution",
        f"escalate {ref}", "Directors remain at odds; panel needed",
        "/as carl", f"outcome {ref}", "Resolved", "Panel decided the referral is re-opened",
        "/cases", f"case {ref} timeline", "/quit",
    ])
    assert_in_order(out, [
        "Before anything else: is a child or adult at immediate risk of significant harm?",
        "Is the disagreement about a child protection conference decision?",  # SWN-3
        f"Recorded as {ref}.",
        # SWN-10: 2 working days of the disagreement arising; Good Friday and Easter Monday skipped
        "Next: Stage 1 \u2014 Internal discussion with your line manager: due by Wed 8 Apr 2026 "
        "(2 working days after the disagreement arose on Thu 2 Apr)",
        "\u2192 DM to Bob Evans (@bob)",
        "The case has moved to Stage 2: Inter-agency discussion.",
        # SWN-11
        "Stage 2 \u2014 Inter-agency discussion with the other professional: due by Wed 15 Apr 2026 "
        "(5 working days after Stage 1 completed on Wed 8 Apr)",
        "Document all communication between agencies and copy the Partnership in",  # SWN-N12
        "Contact recorded.",
        # SWN-12
        "Stage 3 \u2014 Line manager contacts their opposite number in the partner agency: due by Wed 22 Apr 2026 "
        "(5 working days after Stage 2 completed on Wed 15 Apr)",
        # SWN-15
        "Stage 4 \u2014 Heads/Directors of Service contact their opposite number in the partner agency: due by "
        "Wed 29 Apr 2026 (5 working days after Stage 3 completed on Wed 22 Apr)",
        # SWN-17: Early May bank holiday (4 May) skipped
        "due by Thu 7 May 2026 (5 working days after Stage 4 completed on Wed 29 Apr)",
        "Now overdue:",
        "Referral to the Partnership with the Appendix 1 resolution form",
        "Step recorded as done.",
        "Stage 5: Swindon Safeguarding Partnership ended without agreement. Stage 6: Resolution Panel is used only "
        "in exceptional circumstances",
        "Escalated to Stage 6: Resolution Panel.",
        "Outcome recorded: resolved.",
        "Resolved at Stage 6: Resolution Panel.",
        f"{ref} \u00b7 Wiltshire Police \u2192 Swindon Children's Social Care \u00b7 Stage 6: Resolution Panel [resolved]",
        "resolved: Panel decided the referral is re-opened",
    ])
    # the child's name appears once: where the user typed it; never in the bot's messages or DMs
    assert out.count("Jamie Doe") == 1 and "alice@swindon> Jamie Doe" in out


def test_wolverhampton_full_case(sqlite_runtime) -> None:
    ref = "WOL-2026-0001"
    out = run_console(sqlite_runtime, "wolverhampton", [
        "new", "no", "A child", "1", "Closed involvement too early", "Emailed", "Keep the case open",
        "today", "City of Wolverhampton Council Social Care", "Bob Evans, Social Worker", "no", "skip", "Submit",
        "/clock 2026-04-07 11:00", f"done {ref}", "Raise the matter with the relevant practitioner, verbally and in "
        "writing", "today",
        "/as bob", "/clock 2026-04-10 15:00", f"outcome {ref}", "Not resolved", "Reviewed the file; no agreement",
        "/as mia", "/clock 2026-04-14 16:00", f"outcome {ref}", "Not resolved", "Managers disagree",
        f"done {ref}", "Refer the issue in writing to the relevant senior manager or designated professional", "today",
        "/as sean", "/clock 2026-04-16 16:00", f"outcome {ref}", "Not resolved", "Senior managers disagree",
        "/clock 2026-04-20 12:00", f"done {ref}",
        "Raise the disagreement with your agency's or sector's WSB representative", "today",
        "/as dora", "/clock 2026-04-22 16:00", f"outcome {ref}", "Not resolved", "No final resolution",
        f"escalate {ref}", "Concerns persist; exceptional circumstances",
        "/as una", "/clock 2026-04-23 10:00", f"done {ref}",
        "Director writes to the WSB Chair via the WSB Business Manager", "today",
        "/as carl", "/clock 2026-04-30 12:00", f"outcome {ref}", "Resolved", "Binding decision: keep the case open",
        "no", "/quit",
    ])
    assert_in_order(out, [
        # WOL-11 (A14)
        "Next: Stage 1 \u2014 Raise the matter with the relevant practitioner, verbally and in writing: due by "
        "Wed 8 Apr 2026 (2 working days after the disagreement arose on Thu 2 Apr)",
        # WOL-10 (A17): overall milestone
        "Resolve through discussion (overall target for Stages 1-3): due by Mon 20 Apr 2026 (10 working days after "
        "the disagreement arose on Thu 2 Apr)",
        # WOL-12: 3 working days of the matter being raised
        "Receiving agency reviews the case file, speaks to the disputing practitioner and seeks a way forward: due "
        "by Fri 10 Apr 2026 (3 working days after \u201cRaise the matter with the relevant practitioner, verbally "
        "and in writing\u201d was done on Tue 7 Apr)",
        # WOL-15
        "Stage 2 \u2014 Managers or named safeguarding leads attempt to resolve the differences: due by Tue 14 Apr "
        "2026 (2 working days after Stage 1 completed on Fri 10 Apr)",
        # WOL-17 (A3): 24 elapsed hours
        "Stage 3 \u2014 Refer the issue in writing to the relevant senior manager or designated professional: due by "
        "Wed 15 Apr 2026 16:00 (24 hours after Stage 2 completed on Tue 14 Apr 16:00)",
        # WOL-18
        "Senior managers engage in dialogue to resolve the issue: due by Thu 16 Apr 2026",
        # WOL-19
        "Stage 4 \u2014 Raise the disagreement with your agency's or sector's WSB representative: due by Mon 20 Apr "
        "2026 (a further 2 working days after Stage 3 completed on Thu 16 Apr)",
        # WOL-20
        "WSB representatives write to and meet their equivalent to achieve a final resolution: due by Wed 22 Apr "
        "2026 (a further 2 working days after",
        "Stage 5: Exceptional circumstances: WSB Independent Chair is used only in exceptional circumstances",
        # WOL-21 (A16)
        "Stage 5 \u2014 Director writes to the WSB Chair via the WSB Business Manager: due by Fri 24 Apr 2026 "
        "(2 working days after Stage 4 completed on Wed 22 Apr)",
        # WOL-22
        "WSB Chair communicates a final and binding decision to all involved: due by Thu 30 Apr 2026 (5 working "
        "days after \u201cDirector writes to the WSB Chair via the WSB Business Manager\u201d was done on Thu 23 Apr)",
        "Does this apply to this case? Bring the gap in policy, procedure or process",
        "Resolved at Stage 5: Exceptional circumstances: WSB Independent Chair.",
        "Offer a debrief to the individuals involved (optional)",  # WOL-N16
    ])


def test_mid_and_west_wales_full_case(sqlite_runtime) -> None:
    ref = "MWW-2026-0001"
    out = run_console(sqlite_runtime, "mid-and-west-wales", [
        "new", "no", "A child", "Thresholds", "Threshold not met for a strategy discussion", "Emailed the team",
        "A strategy discussion", "today", "Carmarthenshire Children's Services", "Bob Evans, Social Worker",
        "2026-04-07", "skip", "Submit",
        "/clock 2026-04-08 12:00", f"outcome {ref}", "Not resolved", "Met; still disagree",
        "/as mia", "/clock 2026-04-22 15:00", f"outcome {ref}", "Not resolved", "Managers could not agree",
        f"protect {ref}", "clear",
        f"escalate {ref}", "Exceptional: risk of harm continues",
        "/as sean", "/clock 2026-05-06 14:00", f"outcome {ref}", "Resolved", "Strategy discussion to be held",
        "yes", "/quit",
    ])
    assert_in_order(out, [
        # MWW-3 with the protective cap (A4)
        "Next: Stage 1 \u2014 Discuss or meet with the person you have a professional difference with: due by "
        "Tue 7 Apr 2026 17:00 (5 working days after the concern was raised on Thu 2 Apr; brought forward from "
        "Mon 13 Apr to the protective date set for this case)",
        # MWW-5 (A5)
        "Resolve at Stage 1, or bring the matter to your line managers (Stage 2): due by Mon 20 Apr 2026 "
        "(10 working days after the concern was raised on Thu 2 Apr)",
        "Inform the relevant local safeguarding lead and your line manager",  # MWW-N6
        "Now overdue:",
        # MWW-6 (A5): 10 working days of the escalation to line managers
        "Stage 2 \u2014 Line managers convene a meeting or discussion to resolve the differences: due by Wed 22 Apr "
        "2026 (10 working days after Stage 2 started on Wed 8 Apr)",
        "Email the Stage 2 record of the disagreement and outcome to the LOG Chair",  # MWW-N9
        "Stage 3: Senior managers (exceptional) is used only in exceptional circumstances",  # A7
        "Protective date updated.",
        # MWW-7 (A7): clock from the completion of Stage 2, not the decision; May Day skipped
        "Stage 3 \u2014 Agency senior managers review the matter and meet to decide an outcome: due by Thu 7 May "
        "2026 (10 working days after Stage 2 completed on Wed 22 Apr)",
        "Make sure the Statutory Director / Senior Strategic Lead and the Board Chair are sighted",  # MWW-N12
        "Does this apply to this case? Refer the procedural issue",
        "Resolved at Stage 3: Senior managers (exceptional).",
        # MWW-4 (A6): 10 working days of resolution
        "Refer the procedural issue to your organisation's representative on the Regional Policies & Procedures Sub "
        "Group: due by Wed 20 May 2026 (10 working days after the resolution on Wed 6 May)",
        "Share the Stage 3 outcome with the Executive Board",
    ])


def test_cardiff_and_vale_full_case(sqlite_runtime) -> None:
    ref = "CV-2026-0001"
    out = run_console(sqlite_runtime, "cardiff-and-vale", [
        "new", "no", "yes", "A child", "Differing views on thresholds", "Referral not accepted",
        "Spoke to the duty team", "Accept the referral", "today", "Cardiff Council Children's Services",
        "Bob Evans, Social Worker", "skip", "Submit",
        f"done {ref}", "Raise your concerns with your immediate manager (or seek advice from your safeguarding lead)",
        "today",
        "/as sam", "/clock 2026-04-07 12:00", f"extend {ref}", "1", "2026-04-09", "Counterpart's manager on leave",
        "/clock 2026-04-09 16:00", f"outcome {ref}", "Not resolved", "Managers could not agree",
        f"done {ref}", "Refer the issue to the Business Unit on the Appendix 1 form (Part A)", "today",
        "/as una", "/clock 2026-04-10 10:00", f"done {ref}",
        "Business Manager records the concern and sends the form to the responding agency", "today",
        "/clock 2026-04-24 15:00", f"done {ref}", "Responding agency completes Part B of the Appendix 1 form", "today",
        f"outcome {ref}", "Not resolved", "Delivery Group could not resolve",
        f"done {ref}", "Chair / Vice Chair decides whether the case is reviewed", "today", "yes",
        f"outcome {ref}", "Resolved", "Review commissioned; referral accepted", "/quit",
    ])
    assert_in_order(out, [
        "Have you already tried to resolve this with your counterpart in the other agency?",  # CV-1
        # CV-6
        "Next: Stage 1 \u2014 Raise your concerns with your immediate manager (or seek advice from your safeguarding "
        "lead): due by Thu 2 Apr 2026 10:00 (immediately when the concern was raised on Thu 2 Apr 10:00)",
        "Then, once the step before is done:",
        "Manager / safeguarding lead discusses with their counterpart and attempts to resolve (2 working days after",
        # CV-7 (A12): 2 working days from the concern being raised with the manager; Easter skipped
        "Manager / safeguarding lead discusses with their counterpart and attempts to resolve: due by Wed 8 Apr 2026 "
        "(2 working days after",
        "Extension recorded.",
        "due by Thu 9 Apr 2026 (2 working days after",
        "extended: Counterpart's manager on leave",
        # CV-9
        "Stage 2 \u2014 Refer the issue to the Business Unit on the Appendix 1 form (Part A): due by Thu 9 Apr 2026 "
        "16:00 (immediately when Stage 2 started on Thu 9 Apr 16:00)",
        # CV-11 (A12): 10 working days from the form being sent
        "Responding agency completes Part B of the Appendix 1 form: due by Fri 24 Apr 2026 (10 working days after "
        "\u201cBusiness Manager records the concern and sends the form to the responding agency\u201d was done on "
        "Fri 10 Apr)",
        # CV-12 (A13): no meeting dates configured
        "To do (no timescale set by the protocol):",
        "Raise the concern at the next Delivery Group meeting: due at the next delivery group meeting (no meeting "
        "date is set)",
        "The case has moved to Stage 3: Escalation to the CVSB Chair / Vice-Chair.",
        "Does this apply to this case? Review of the case",
        # CV-13 (A2): 5 calendar days of the decision
        "Chair / Vice Chair informs the agencies' representatives of the decision: due by Wed 29 Apr 2026 "
        "(5 calendar days after \u201cChair / Vice Chair decides whether the case is reviewed\u201d was done on "
        "Fri 24 Apr)",
        "Resolved at Stage 3",
    ])


def test_real_cli_console_and_timetable(tmp_path: Path) -> None:
    """`parley` as a subprocess: migrations, demo load, a short console session, the timetable JSON."""
    parley = Path(sys.executable).with_name("parley")
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": db}
    for args in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([str(parley), *args], check=True, env=env, capture_output=True, timeout=120)
    script = "\n".join(["/as alice", "new", "no", "no", "1", "Referral closed", "Phoned", "Re-open", "today",
                        "Swindon Children's Social Care", "Bob Evans, Social Worker", "skip", "Submit",
                        "/clock +3wd", "/quit"]) + "\n"
    done = subprocess.run([str(parley), "console", "--board", "swindon", "--clock", "2026-04-02 10:00"],
                          input=script, text=True, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Recorded as SWN-2026-0001." in done.stdout
    assert "due by Wed 8 Apr 2026 (2 working days after the disagreement arose on Thu 2 Apr)" in done.stdout
    # +3 working days from Thu 2 Apr skips Good Friday and Easter Monday: Thu 9 Apr, and SWN-10 is overdue
    assert "Simulated time: Thu 9 Apr 2026 10:00 (working time)" in done.stdout
    assert "Now overdue:" in done.stdout
    # a restart resumes the stored clock and speaker
    again = subprocess.run([str(parley), "console", "--board", "swindon"], input="/clock +1d\n/quit\n", text=True,
                           env=env, capture_output=True, timeout=120)
    assert "You are Alice Hughes" in again.stdout
    assert "Simulated time: Fri 10 Apr 2026 10:00" in again.stdout
    assert "Now overdue:" in again.stdout and "SWN-2026-0001" in again.stdout
    tt = subprocess.run([str(parley), "timetable", "swindon", "--start", "2026-04-02", "--json"], text=True,
                        capture_output=True, timeout=120, check=True)
    rows = json.loads(tt.stdout)
    by_stage: dict[int, list[str]] = {}
    for r in rows:
        by_stage.setdefault(r["stage"], []).append(r["due"])
    assert by_stage[1] == ["2026-04-08"] and by_stage[5] == ["2026-05-07"]  # SWN-10, SWN-17 (Easter, May Day)
    assert all({"stage", "step", "title", "due"} <= set(r) for r in rows)


def test_console_clock_runs_the_scheduler_and_a_manager_acknowledges(sqlite_runtime) -> None:
    """Moving the simulated clock fires nudges and the escalation prompt in the manager channels; a manager
    switches in with /as, presses Acknowledge, and the prompt is updated in place."""
    ref = "SWN-2026-0001"
    out = run_console(sqlite_runtime, "swindon", [
        "new", "no", "no", "1", "Referral closed", "Phoned", "Re-open", "today", "Swindon Children's Social Care",
        "Bob Evans, Social Worker", "skip", "Submit",
        "/clock 2026-04-07 09:30",
        "/clock 2026-04-09 09:15",
        "/as sam", "1",
        "/as mia", "/channel csc-team-managers", "1",
        "/quit",
    ])
    assert_in_order(out, [
        f"Recorded as {ref}.",
        "Simulated time: Tue 7 Apr 2026 09:30 (working time)",
        "\u2192 DM to Alice Hughes (@alice):",
        f"Reminder for {ref}: Stage 1 \u2014 Internal discussion with your line manager: due by Wed 8 Apr 2026",
        "\u2192 DM to Sam Patel (@sam):",
        "Simulated time: Thu 9 Apr 2026 09:15 (working time)",
        "[#police-sgt-managers]:",
        "The Stage 1 deadline passed on Wed 8 Apr 2026 17:00 with no outcome recorded.",
        "[1] Acknowledge / take ownership   [2] Already resolved   [3] View case",
        "[#csc-team-managers]:",
        "[4] Acknowledge / take ownership",
        "sam@swindon> 1",
        "Acknowledged. You have taken ownership of SWN-2026-0001. The case has moved to Stage 2: Inter-agency "
        "discussion.",
        "[#police-sgt-managers] (message updated in place):",
        "Acknowledged by Sam Patel at 09:15 on Thu 9 Apr.",
        "[#csc-team-managers] (message updated in place):",
        "Acknowledged by Sam Patel (Wiltshire Police) at 09:15 on Thu 9 Apr.",
        # scrolling back shows the prompt as it is now: answered, with only its View case button
        "mia@swindon> /channel csc-team-managers",
        "Acknowledged by Sam Patel (Wiltshire Police) at 09:15 on Thu 9 Apr.",
        "[1] View case",
        "mia@swindon> 1",
        "Next: Stage 2 — Inter-agency discussion with the other professional: due by Thu 16 Apr 2026",
    ])
    assert "[#business-unit]" not in out.split("Simulated time: Thu 9 Apr")[1].split("sam@swindon>")[0]
