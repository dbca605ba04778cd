"""The weekly business-unit digest: its numbers (new, resolved, open by stage, overdue, and the median working
days at each stage against the protocol's timescale) checked against a hand-built set of Cardiff & Vale cases
with known answers; its chart (the figure's bars and labels, and the PNG); and no channel-bound digest, quarterly
summary or other scheduler post ever carries a child's name, date of birth or address."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pytest
from matplotlib.text import Text
from PIL import Image
from sqlalchemy import select

from bot.reporting import charts, digests
from bot.cases import services
from bot.core.clock import FixedClock
from bot.core.i18n import translator
from bot.core.messages import message_from_data
from bot.escalation.scheduler import Sweeper
from bot.cases.services import Ctx
from protocol.timescales import AnchorKind
from storage import repo, subjects
from storage.models import Case, OutboxMessage, Timer
from tests.bot.test_scheduler import at, open_case
from bot.cases import protocols

BOARD = "cardiff-and-vale"
NOW = at(2026, 5, 18, 9)  # Monday 18 May 2026, 09:00: when the digest is posted
# one child per case, with details that must never reach a channel
SUBJECTS = [
    ("Kezia Marchbanks", dt.date(2015, 3, 9), "14 Quillfeather Lane, Penarth, CF64 9ZX"),
    ("Taliesin Vortigern", dt.date(2012, 11, 23), "Flat 2, 7 Zephyrine Court, Barry, CF62 4QW"),
    ("Oriel Pennyfeather", dt.date(2019, 1, 30), "3 Hawksmoor Close, Llandough, CF64 2XL"),
    ("Bryony Thistlewood", dt.date(2010, 7, 4), "88 Wickerbasket Road, Cardiff, CF5 1ZZ"),
    ("Caspian Wrexley", dt.date(2016, 12, 1), "1 Lanternfield Row, Dinas Powys, CF64 4JQ"),
    ("Seren Applegarth", dt.date(2013, 5, 17), "21 Orchardine Mews, Sully, CF64 5TY"),
    ("Idris Mallowfield", dt.date(2011, 8, 12), "5 Copperbeech Walk, Rhoose, CF62 3HN"),  # the lapsing case
]


def _ctx(s, key: str, when: dt.datetime) -> Ctx:
    return Ctx(repo.person_by_key(BOARD, key, session=s), "console", when)


def build_cases(rt) -> dict[str, int]:
    """Six cases driven through the services (Alice, South Wales Police, raises each with Bob, Cardiff Council
    Children's Services). Stage 1's timescale is 2 working days from the concern being raised (CV-5..7: raise
    with the manager immediately, then 2 working days); Stage 2's is 10 working days from its start (CV-9..11).

    a  raised Thu 2 Apr, resolved Tue 7 Apr: Stage 1 took 1 working day (Good Friday, Easter Monday)
    b  raised Thu 2 Apr; Stage 1 ended unresolved Fri 10 Apr (4 working days: late); Stage 2 ran from Fri 10 Apr
       to Tue 28 Apr unresolved (12 working days: late again), so it sits at Stage 3: two missed deadlines
    c  raised Mon 20 Apr and bypassed to Stage 3 the same morning (Stage 1 ended after 0 working days); its
       "discuss with your safeguarding lead" duty (immediately, on a bypass) is overdue
    d  raised Tue 12 May, resolved Thu 14 May (2 working days): new and resolved this week
    e  raised Mon 11 May 10:00, nothing done: new this week, and its "raise with your manager" step
       (immediately) is overdue
    f  raised Mon 2 Feb, resolved Mon 16 Feb: before the 12-week window, so not in the stage times
    """
    whens = {"a": at(2026, 4, 2, 10), "b": at(2026, 4, 2, 10), "c": at(2026, 4, 20, 10), "d": at(2026, 5, 12, 10),
             "e": at(2026, 5, 11, 10), "f": at(2026, 2, 2, 10)}
    ids = {k: open_case(rt, BOARD, when, subject_name=name, subject_dob=dob, subject_address=address)
           for (k, when), (name, dob, address) in zip(whens.items(), SUBJECTS)}
    with rt.factory() as s:
        a, b, c, d, _e, f = (s.get(Case, ids[k]) for k in "abcdef")
        services.complete_step(_ctx(s, "alice", at(2026, 4, 2, 10)), a, "raise-with-manager", on=dt.date(2026, 4, 2),
                               session=s)
        services.record_outcome(_ctx(s, "bob", at(2026, 4, 7, 15)), a, resolved=True, text="Re-referred", session=s)
        services.complete_step(_ctx(s, "alice", at(2026, 4, 2, 10)), b, "raise-with-manager", on=dt.date(2026, 4, 2),
                               session=s)
        services.record_outcome(_ctx(s, "alice", at(2026, 4, 10, 15)), b, resolved=False, text="No", session=s)
        for step in ("refer-to-business-unit", "form-sent-to-responder"):
            services.complete_step(_ctx(s, "una", at(2026, 4, 10, 15)), b, step, on=dt.date(2026, 4, 10), session=s)
        services.record_outcome(_ctx(s, "una", at(2026, 4, 28, 15)), b, resolved=False, text="No", session=s)
        services.bypass_to_stage(_ctx(s, "alice", at(2026, 4, 20, 11)), c, reason_id="death-serious-harm", session=s)
        services.complete_step(_ctx(s, "alice", at(2026, 5, 12, 10)), d, "raise-with-manager",
                               on=dt.date(2026, 5, 12), session=s)
        services.record_outcome(_ctx(s, "bob", at(2026, 5, 14, 15)), d, resolved=True, text="Agreed", session=s)
        services.complete_step(_ctx(s, "alice", at(2026, 2, 2, 10)), f, "raise-with-manager", on=dt.date(2026, 2, 2),
                               session=s)
        services.record_outcome(_ctx(s, "bob", at(2026, 2, 16, 15)), f, resolved=True, text="Agreed", session=s)
        s.commit()
        # the details the privacy test looks for really are stored with the cases
        assert subjects.get_subject(ids["a"], session=s).name == "Kezia Marchbanks"
        assert subjects.get_subject(ids["b"], session=s).date_of_birth == dt.date(2012, 11, 23)
    return ids


@pytest.fixture
def cases(sqlite_runtime) -> Iterator[tuple]:
    yield sqlite_runtime, build_cases(sqlite_runtime)


def test_digest_numbers_from_a_hand_built_set(cases) -> None:
    rt, _ids = cases
    T = translator()
    with rt.factory() as s:
        f = digests.weekly_figures(T, BOARD, NOW, session=s)
        message = digests.weekly_digest(T, BOARD, NOW, session=s)
    assert (f.new, f.resolved) == (2, 1)  # d and e were raised after Mon 11 May 09:00; d was resolved
    assert f.open_by_stage == (("Stage 1: Agency response", 1), ("Stage 3: Escalation to the CVSB Chair / Vice-Chair", 2))
    assert [line.split(" \u00b7 ")[0] for line in f.overdue] == ["CV-2026-0003", "CV-2026-0005"]
    assert "Discuss the concern with your agency's lead professional for safeguarding" in f.overdue[0]
    assert "Raise your concerns with your immediate manager" in f.overdue[1]
    assert f.window_from == dt.date(2026, 2, 23) and f.week_to == dt.date(2026, 5, 18)
    got = [(s.number, s.median, s.visits, s.timescale.working_days if s.timescale else None, s.open_cases)
           for s in f.stages]
    # Stage 1: a 1, b 4, c 0, d 2 (f ended before the window) -> median 1.5; Stage 2: b 12; Stage 3: none ended
    assert got == [(1, 1.5, 4, 2, 1), (2, 12, 1, 10, 0), (3, None, 0, None, 2)]

    text = message.text
    assert message.title == "Weekly digest \u2014 Cardiff and Vale Safeguarding Board, week to Mon 18 May 2026"
    assert text.startswith("New this week: 2. Resolved this week: 1. Closed this week: 0. Open: 3.\n"
                           "  Stage 1: Agency response: 1\n"
                           "  Stage 3: Escalation to the CVSB Chair / Vice-Chair: 2\n"
                           "Overdue deadlines:\n"
                           "  \u2022 CV-2026-0003 \u00b7 South Wales Police \u2192 Cardiff Council Children's Services")
    assert "for the stage visits that ended in the 12 weeks to Mon 18 May 2026" in text  # the window is stated
    assert "  Stage 1: median 1.5 working days (timescale 2 working days) over 4 stage visits that ended" in text
    assert "  Stage 2: median 12 working days (timescale 10 working days) over 1 stage visit that ended" in text
    assert "Stage 3: median" not in text
    [chart] = message.attachments
    assert chart.media_type == "image/png" and chart.filename == "parley-weekly-digest-cardiff-and-vale-2026-05-18.png"
    assert chart.title.startswith("Chart: median working days at each stage")


def test_stage_timescales_of_the_seed_protocols(sqlite_runtime) -> None:
    """The timescale of each stage, read from the protocols (docs/protocols.md's table of the four seeds)."""
    T = translator()
    expected = {
        "swindon": [2, 5, 5, 5, 5, None],  # SWN: days 2, 7, 12, 17, 22; the Resolution Panel has no deadline
        "wolverhampton": [5, 2, None, 4, 7],  # 2 + 3; 2; 24 hours then 2 working days; 2 + 2; 2 + 5
        "cardiff-and-vale": [2, 10, None],
        "mid-and-west-wales": [10, 10, 10],
    }
    with sqlite_runtime.factory() as s:
        for board, days in expected.items():
            proto = protocols.board_protocol(board, session=s)
            found = [digests.stage_timescale(proto, st) for st in proto.stages]
            assert [t.working_days if t else None for t in found] == days, board
        wol = protocols.board_protocol("wolverhampton", session=s)
        third = digests.stage_timescale(wol, wol.stages[2])
        assert digests.timescale_phrase(T, third) == "24 hours, then 2 working days"
        assert digests.stage_timescale(wol, wol.stages[0]).root is AnchorKind.DISAGREEMENT
        swn = protocols.board_protocol("swindon", session=s)
        assert digests.stage_timescale(swn, swn.stages[5]) is None
        assert digests.timescale_phrase(T, None) == "no timescale"


def test_digest_chart_shows_the_digest_figures(cases) -> None:
    rt, _ids = cases
    T = translator()
    with rt.factory() as s:
        f = digests.weekly_figures(T, BOARD, NOW, session=s)
        message = digests.weekly_digest(T, BOARD, NOW, session=s)
    fig = digests.chart(T, f)
    times = next(ax for ax in fig.axes if ax.get_gid() == charts.GID_TIMES)
    opened = next(ax for ax in fig.axes if ax.get_gid() == charts.GID_OPEN)

    def heights(ax, gid: str) -> list[float]:
        return [p.get_height() for p in ax.patches if p.get_gid() == gid]

    assert heights(times, charts.GID_MEDIANS) == [1.5, 12, 0]
    assert heights(times, charts.GID_TIMESCALE) == [2, 10, 0]
    assert heights(opened, charts.GID_OPEN) == [1, 0, 2]
    assert [t.get_text() for t in times.get_xticklabels()] == ["1\n4 ended", "2\n1 ended", "3\n0 ended"]
    assert [t.get_text() for t in opened.get_xticklabels()] == ["1", "2", "3"]
    assert times.get_ylabel() == "Working days" and opened.get_ylabel() == "Open cases"
    assert "12 weeks to Mon 18 May 2026" in times.get_title()
    assert fig.get_suptitle() == "Cardiff and Vale Safeguarding Board: weekly digest, week to Mon 18 May 2026"
    labels = {t.get_text() for t in times.texts}
    assert {"1.5", "12", "2", "10", "none ended", "no timescale in working days"} <= labels
    assert [t.get_text() for t in times.get_legend().get_texts()] == ["Median working days taken",
                                                                     "Protocol timescale"]

    # the attached PNG is this figure, rendered: the right size, and not blank
    [attachment] = message.attachments
    assert attachment.data == charts.png(fig)
    with Image.open(io.BytesIO(attachment.data)) as img:
        assert img.format == "PNG" and img.size == (1000, 460)
        rgb = img.convert("RGB")
    colours = rgb.getcolors(maxcolors=256)
    assert colours is not None and len(colours) >= 8  # text, axes and three bar colours, anti-aliased
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.95 * 1000 * 460  # something is drawn
    bar_blue = sum(n for n, c in colours if c == (0, 114, 178))  # charts.MEDIAN: the median bars are there
    assert bar_blue > 1000


def test_chart_renders_offline_with_the_bundled_font() -> None:
    from matplotlib import font_manager

    T = translator()
    fig = charts.digest_figure(T, "Board", "the 12 weeks to Mon 18 May 2026",
                               [charts.StageBar("1", None, None, 0, 0)])
    fonts = {font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
             for t in fig.findobj(Text) if t.get_text()}
    assert fonts and all("mpl-data" in f and "DejaVuSans" in f for f in fonts)
    png = charts.png(fig)
    assert png.startswith(b"\x89PNG") and b"Software" not in png  # no version stamp: same figure, same bytes
    assert charts.png(fig) == png


# -- nothing identifying on a channel ------------------------------------------------------------------------
def _forbidden() -> list[str]:
    """Every child's name (whole and each part), address (whole, its street lines and postcode) and date of
    birth in the formats people write them."""
    T = translator()
    out: list[str] = []
    for name, dob, address in SUBJECTS:
        out += [name, *name.split()]
        parts = [p.strip() for p in address.split(",")]
        street, postcode = parts[:-2], parts[-1]  # the town alone names nobody (and agencies bear it)
        out += [address, *street, postcode, postcode.replace(" ", "")]
        d, m, y = dob.day, dob.month, dob.year
        month, mon = dob.strftime("%B"), dob.strftime("%b")
        suffix = "th" if 11 <= d <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
        out += [dob.isoformat(), f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{y}", f"{d:02d}/{m:02d}/{y % 100:02d}",
                f"{d:02d}-{m:02d}-{y}", f"{d:02d}.{m:02d}.{y}", f"{d}.{m}.{y}", f"{m:02d}/{d:02d}/{y}",
                f"{y}{m:02d}{d:02d}", f"{d} {month} {y}", f"{d}{suffix} {month} {y}", f"{d} {mon} {y}",
                f"{month} {d}, {y}", T.date(dob), T.date(dob, with_year=False)]
    return [x.lower() for x in out if x]


def _leaks(texts: list[str]) -> list[tuple[str, str]]:
    forbidden = _forbidden()
    return [(bad, t) for t in texts for bad in forbidden if bad in t.lower()]


def _message_texts(m) -> list[str]:
    out = [m.title or "", m.text, m.case_ref or ""]
    out += [x for f in m.fields for x in (f.label, f.value)]
    out += [x for b in m.buttons for x in (b.label, b.value, b.action)]
    out += [x for a in m.attachments for x in (a.title, a.filename)]
    out += [a.data.decode("latin-1") for a in m.attachments if a.media_type != "image/png"]
    return out


def _figure_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_the_check_finds_a_leak() -> None:
    """The check below is not vacuous: it catches each kind of detail in any format."""
    name, dob, address = SUBJECTS[0]
    assert _leaks(["Re: KEZIA's case"]) and _leaks(["born 09/03/2015"]) and _leaks(["9th March 2015"])
    assert _leaks(["lives at 14 quillfeather lane"]) and _leaks(["CF649ZX"]) and _leaks(["Sun 9 Mar 2015"])
    assert not _leaks(["CV-2026-0001 \u00b7 South Wales Police \u2192 Cardiff Council Children's Services"])


def test_no_channel_post_carries_a_childs_details(cases, monkeypatch) -> None:
    """The weekly digest and quarterly summary (text, title, fields, the chart's every label), and everything the
    scheduler posts to channels over the cases' life (escalation prompts, re-notifications, digests, the quarterly
    post), never name, date or place a child."""
    rt, _ids = cases
    T = translator()
    figures: list = []
    draw = charts.digest_figure

    def recording(*args, **kwargs):
        fig = draw(*args, **kwargs)
        figures.append(fig)
        return fig

    monkeypatch.setattr(charts, "digest_figure", recording)
    with rt.factory() as s:
        weekly = digests.weekly_digest(T, BOARD, NOW, session=s)
        quarterly = digests.quarterly_summary(T, BOARD, at(2026, 7, 1, 9), session=s)
    assert not _leaks(_message_texts(weekly)) and not _leaks(_message_texts(quarterly))
    assert len(figures) == 1 and not _leaks(_figure_texts(figures[0]))
    assert "Kezia" not in str(weekly) and "Kezia" not in str(quarterly)

    # a case whose Stage 1 lapses while the scheduler runs: escalation prompts and re-notifications in channels
    name, dob, address = SUBJECTS[6]
    lapsing = open_case(rt, BOARD, at(2026, 4, 20, 10), subject_name=name, subject_dob=dob, subject_address=address)
    with rt.factory() as s:
        services.complete_step(_ctx(s, "alice", at(2026, 4, 20, 10)), s.get(Case, lapsing), "raise-with-manager",
                               on=dt.date(2026, 4, 20), session=s)
        s.commit()
    # the scheduler over the cases' life: escalations, re-notifications, weekly digests, the quarterly post
    sweeper = Sweeper(rt.factory, FixedClock(at(2026, 4, 20, 10)))
    day = dt.date(2026, 4, 20)
    while day <= dt.date(2026, 5, 19):
        for hour in (9, 14):
            sweeper.clock = FixedClock(at(day.year, day.month, day.day, hour, 30))
            sweeper.sweep()
        day += dt.timedelta(days=1)
    sweeper.clock = FixedClock(at(2026, 7, 1, 9, 30))  # the quarterly data set for Q1 2026-27
    sweeper.sweep()
    with rt.factory() as s:
        posts = s.scalars(select(OutboxMessage).where(OutboxMessage.target_kind == "channel")).all()
        kinds = {(p.board_id, s.get(Timer, p.timer_id).kind) for p in posts}
        messages = [message_from_data(p.payload) for p in posts]
    assert {(BOARD, "digest"), (BOARD, "quarterly"), (BOARD, "escalation"), (BOARD, "renotify")} <= kinds
    assert not [leak for m in messages for leak in _leaks(_message_texts(m))]
    charts_posted = [a.data for m in messages for a in m.attachments if a.media_type == "image/png"]
    assert charts_posted and figures[1:]
    assert not [leak for fig in figures for leak in _leaks(_figure_texts(fig))]
    rendered = {charts.png(fig) for fig in figures}
    assert all(data in rendered for data in charts_posted)  # each posted chart is one whose labels were checked
