"""Charts for business-unit digests, drawn with matplotlib's Agg backend (headless, no display needed).

Only counts, stage labels and the board's name go into a chart: it is posted to channels, so it never carries
a child's or adult's details. Text is set in DejaVu Sans, the font bundled with matplotlib, so a chart renders
the same offline and on any machine. The figure is built by :func:`digest_figure` (a plain
``matplotlib.figure.Figure``, never pyplot's global state, so it is safe in the scheduler's threads) and turned
into a compact PNG by :func:`png`. matplotlib and Pillow (some 40 MB) are imported when a chart is first drawn, not
with this module: a process that never draws one (the console, the CLI, a scheduler between digests) never loads them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.i18n import Translator

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

FONT = "DejaVu Sans"  # bundled with matplotlib
SIZE_INCHES = (10.0, 4.6)
DPI = 100  # 1000 x 460 pixels
PALETTE_COLOURS = 32  # the PNG is quantised to a palette: about 16 KB instead of 60 (Teams inlines it in a card)
# Okabe-Ito colours (distinguishable with colour-blindness); the timescale bars are light with a dark edge, and
# every bar is labelled with its number, so nothing is told by colour alone
MEDIAN = "#0072B2"
TIMESCALE_FILL = "#D9D9D9"
TIMESCALE_EDGE = "#555555"
OPEN = "#009E73"
GID_TIMES = "stage-times"  # the axes and their bars carry ids (tests find them by these)
GID_MEDIANS = "medians"
GID_TIMESCALE = "timescales"
GID_OPEN = "open-by-stage"


@dataclass(frozen=True)
class StageBar:
    label: str  # the stage's number, as shown under its bars
    median: float | None  # median working days of the stage visits that ended in the window (None: none ended)
    timescale: int | None  # the protocol's timescale in working days (None: none in working days)
    visits: int  # how many stage visits the median is over
    open_cases: int  # open cases at this stage now


def digest_figure(T: Translator, title: str, window: str, bars: Sequence[StageBar]) -> Figure:
    """Two panels over the same stages: the median working days each stage took beside the protocol's timescale
    for it (light grey), and the open cases at each stage now. Every bar is labelled with its value."""
    import matplotlib  # heavy: only when a chart is drawn (see the module's docstring)

    matplotlib.use("Agg")  # headless: never try to open a window
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"font.family": FONT, "font.size": 10, "axes.spines.top": False, "axes.spines.right": False}):
        fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        fig.suptitle(title, fontsize=12, fontweight="bold")
        left, right = fig.subplots(1, 2, width_ratios=(3, 2))
        xs = list(range(len(bars)))

        left.set_gid(GID_TIMES)
        width = 0.38
        heights = [b.median if b.median is not None else 0.0 for b in bars]
        medians = left.bar([x - width / 2 for x in xs], heights, width=width, color=MEDIAN,
                           label=T("Median working days taken"))
        for rect in medians:
            rect.set_gid(GID_MEDIANS)
        limits = [float(b.timescale) if b.timescale is not None else 0.0 for b in bars]
        timescales = left.bar([x + width / 2 for x in xs], limits, width=width, color=TIMESCALE_FILL,
                              edgecolor=TIMESCALE_EDGE, label=T("Protocol timescale"))
        for rect in timescales:
            rect.set_gid(GID_TIMESCALE)
        for rect, b in zip(medians, bars):
            if b.median is None:
                _label(left, rect, T("none ended"), upright=True)  # a note where there is no bar
            else:
                _label(left, rect, _number(b.median))
        for rect, b in zip(timescales, bars):
            if b.timescale is None:
                _label(left, rect, T("no timescale in working days"), upright=True)
            else:
                _label(left, rect, str(b.timescale))
        left.set_ylim(0, max([*heights, *limits, 1.0]) * 1.3)
        left.set_xticks(xs, [b.label + "\n" + T("{n} ended", n=b.visits) for b in bars])
        left.set_xlabel(T("Stage (and how many stage visits ended)"))
        left.set_ylabel(T("Working days"))
        left.set_title(T("Median working days at each stage\n(stage visits that ended in {window})", window=window),
                       fontsize=10)
        left.legend(loc="upper left", fontsize=8, frameon=False, ncols=2)

        right.set_gid(GID_OPEN)
        counts = [b.open_cases for b in bars]
        rects = right.bar(xs, counts, color=OPEN, width=0.6)
        for rect, n in zip(rects, counts):
            rect.set_gid(GID_OPEN)
            _label(right, rect, str(n))
        right.set_ylim(0, max([*counts, 1]) * 1.3)
        right.set_xticks(xs, [b.label for b in bars])
        right.yaxis.get_major_locator().set_params(integer=True)
        right.set_xlabel(T("Stage"))
        right.set_ylabel(T("Open cases"))
        right.set_title(T("Open cases at each stage now"), fontsize=10)
    return fig


def _label(ax: Axes, rect: Rectangle, text: str, upright: bool = False) -> None:
    ax.annotate(text, (rect.get_x() + rect.get_width() / 2, rect.get_height()), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=8, rotation=90 if upright else 0)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def png(fig: Figure) -> bytes:
    """The figure as a palette PNG (no timestamps or software tags, so the same figure gives the same bytes)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    buf = io.BytesIO()
    with rc_context({"font.family": FONT}):
        FigureCanvasAgg(fig).print_png(buf, metadata={"Software": None})
    buf.seek(0)
    with Image.open(buf) as img:
        small = img.convert("RGB").quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE,
                                            dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()
