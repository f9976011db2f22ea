"""Charts as PNG bytes, drawn with matplotlib's "Agg" backend (no display needed), made for a phone.

Most people see a chart in the chat on a phone, 280 to 320 CSS pixels wide: the figure is drawn
FIGURE_WIDTH_IN wide with every text at least MIN_FONT_PT, so text shows at 14 px or more there (the
page lets them open it full size too). Each bar's label sits above it rather than beside it, so the
bars get the whole width. Every chart says who it counts and how many answered, and `alt_text`
says the same figures in words for a screen reader.

matplotlib takes about a second to import, so it is imported inside the functions: the bot and the
command line start fast and pay only when someone asks for a chart.
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ParamSpec

from reports.tables import GROUP_LABELS, HIDDEN, Row, Shown, Table, publish

P = ParamSpec("P")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

FIGURE_WIDTH_IN = 4.0
DPI = 200
# Shown 280 px wide (a 320 px phone less the chat's margins): 15 pt x 200/72 px per pt x 280/800 = 14.6 px;
# at 360 px (316 px shown) 16.5 px.
MIN_FONT_PT = 15
TITLE_CHARACTERS = 26  # a bold line across FIGURE_WIDTH_IN
LABEL_CHARACTERS = 32  # a plain line across FIGURE_WIDTH_IN ("Public and uniformed services (x pupils)" wraps)
LINE_UNITS = 0.35  # a further line of a bar's label, in bar steps (0.85 in each)

# Okabe-Ito colours: told apart by people with the common kinds of colour blindness.
# Grey shades for the two kinds of "unknown", so they read as gaps, not as destinations.
PALETTE = (
    "#0072B2",  # education
    "#009E73",  # apprenticeship
    "#E69F00",  # employment
    "#56B4E9",  # training
    "#CC79A7",  # other
    "#D55E00",  # NEET
    "#BBBBBB",  # not known
    "#777777",  # cannot be contacted
)
DARK_TEXT_ON = {"#BBBBBB", "#56B4E9", "#E69F00"}
UNANSWERED = (GROUP_LABELS["not known"], GROUP_LABELS["cannot be contacted"])


HIDDEN_NAME = "Hidden"
HIDDEN_COLOUR = "#FFFFFF"  # white with grey hatching: reads as "no figure", not as a destination


@dataclass(frozen=True)
class Segment:
    """One piece of a bar: a column's shown count and its share, or the hidden block (count None)."""

    name: str
    count: int | None
    share: Decimal  # percent of the row's base, as drawn


@dataclass(frozen=True)
class Bar:
    label: str  # the row's label and its base as published, e.g. "Female (15)" or "Female (x)"
    segments: tuple[Segment, ...]
    words: str = ""  # the label as the chart writes it: "Female (15 alumni)"


def stacked_segments(shown: Shown, columns: int) -> list[Bar]:
    """What `stacked_bars` draws, from the published numbers only: each shown count at its share,
    then every hidden count of the row as one block of what is left (the base less the shown
    counts, itself worked out from published figures); a row with a hidden base is one hidden block.
    """
    bars = []
    for index, row in enumerate(shown.table.rows):
        base = shown.base(index)
        label = f"{row.label} ({shown.base_text(index)})"
        words = f"{row.label} ({shown.table.base_words(base or 0, shown.base_text(index))})"
        if base == 0:
            continue
        if base is None:
            bars.append(Bar(label, (Segment(HIDDEN_NAME, None, Decimal(100)),), words))
            continue
        segments, hidden = [], False
        for column in range(columns):
            count = shown.count(index, column)
            if count is None:
                hidden = True
            elif count:
                segments.append(Segment(shown.table.columns[column], count, Decimal(100 * count) / base))
        if hidden:
            rest = base - sum(s.count or 0 for s in segments)
            segments.append(Segment(HIDDEN_NAME, None, Decimal(100 * rest) / base))
        bars.append(Bar(label, tuple(segments), words))
    return bars


def coverage_share(shown: Shown, row: int, column: int) -> float:
    """The bar `coverage_bars` draws: the published share, or no bar (0) when it is hidden."""
    share = shown.share(row, column)
    return 0.0 if share is None else float(share)


def answered_line(table: Table, suppress_small: bool = False) -> str:
    """ "23 of 30 answered" for a destinations table (known destinations out of everyone counted);
    "30 pupils" for any other. From the published figures only: a hidden part makes the answered
    count "x" too."""
    shown = publish(table, suppress_small=suppress_small)
    total, at = table.total(), len(table.rows)
    base = shown.base_text(at) if table.rows else str(total.base)
    if not all(name in table.columns for name in UNANSWERED):
        return table.base_words((shown.base(at) or 0) if table.rows else total.base, base)
    parts = [shown.count(at, table.columns.index(name)) if table.rows else 0 for name in UNANSWERED]
    whole = shown.base(at) if table.rows else total.base
    answered = HIDDEN if whole is None or None in parts else str(whole - sum(p or 0 for p in parts))
    return f"{answered} of {base} answered"


def alt_text(table: Table, *, suppress_small: bool = False, columns: int | None = None) -> str:
    """The chart in words, for a screen reader: its title, how many answered, and each bar's
    figures as published (a hidden count reads as hidden)."""
    names = table.columns[: columns if columns is not None else len(table.columns)]
    shown = publish(table, suppress_small=suppress_small)
    parts = [f"Chart: {table.title}. {answered_line(table, suppress_small)}."]
    for index, row in enumerate(table.rows):
        if shown.base(index) == 0:
            continue
        figures = [
            f"{name} {'hidden' if shown.count(index, c) is None else shown.count_text(index, c)}"
            + (f" ({share})" if (share := shown.share_text(index, c)) else "")
            for c, name in enumerate(names)
            if shown.count(index, c) != 0
        ]
        parts.append(
            f"{row.label}, {table.base_words(shown.base(index) or 0, shown.base_text(index))}: {', '.join(figures)}."
        )
    if len(parts) == 1:
        parts.append("No one to count yet.")
    return " ".join(parts)


def _figure(height_in: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(FIGURE_WIDTH_IN, height_in), dpi=DPI)


def _png(fig: Any) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", facecolor="white")
    return out.getvalue()


def _heading_inches(table: Table) -> float:
    return 0.1 + _title(table).count("\n") * 0.29 + 0.29 + 0.35


def _title(table: Table) -> str:
    return textwrap.fill(table.title, TITLE_CHARACTERS)


def _start(table: Table, suppress_small: bool, body_in: float, legend_in: float) -> tuple[Any, Any]:
    """A figure tall enough for its rows, with the title and "how many answered" at its top, and
    the axes the bars go on."""
    heading_in = _heading_inches(table)
    height = heading_in + body_in + 0.55 + legend_in + 0.1
    fig = _figure(height)
    fig.text(0.07, 1 - 0.1 / height, _title(table), ha="left", va="top", fontsize=MIN_FONT_PT, fontweight="bold")
    below_title = heading_in - 0.35
    fig.text(
        0.07, 1 - below_title / height, answered_line(table, suppress_small), ha="left", va="top", fontsize=MIN_FONT_PT
    )
    ax = fig.add_axes((0.07, (legend_in + 0.55) / height, 0.84, body_in / height))  # room for 0% and 100% below
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=MIN_FONT_PT)
    ax.set_yticks([])
    return fig, ax


def _rows(table: Table) -> list[Row]:
    return [r for r in table.rows if r.base > 0]


def _legend(fig: Any, names: list[str], colours: list[str], legend_in: float) -> None:
    from matplotlib.patches import Patch

    if not names:
        return
    handles = [
        Patch(
            facecolor=c,
            edgecolor="#777777" if n == HIDDEN_NAME else "white",
            hatch="//" if n == HIDDEN_NAME else None,
            label=n,
        )
        for n, c in zip(names, colours, strict=True)
    ]
    fig.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.02, 0.01),
        ncol=1,
        fontsize=MIN_FONT_PT,
        frameon=False,
        handlelength=1.0,
        labelspacing=0.25,
    )


def _without_mathtext(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """Draw with `$...$` as plain dollars: labels come from the roster, and matplotlib would parse
    `$\\undefinedmacro{x}$` as mathtext and fail (rcParams are read as each text is made and drawn)."""

    @functools.wraps(draw)
    def plain(*args: P.args, **kwargs: P.kwargs) -> bytes:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return plain


@_without_mathtext
def stacked_bars(table: Table, *, suppress_small: bool = False, columns: int | None = None) -> bytes:
    """One horizontal bar per row, split into each row's shares of its first `columns` columns.

    Bars show percentages so that groups of different sizes compare; each segment wide enough is
    labelled with its count (x for the hidden block when small counts are suppressed). The legend lists only the
    groups that appear.
    """
    names = table.columns[: columns if columns is not None else len(table.columns)]
    bars = stacked_segments(publish(table, suppress_small=suppress_small), len(names))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    present = [n for n in [*names, HIDDEN_NAME] if any(seg.name == n for bar in bars for seg in bar.segments)]
    legend_in = 0.32 * len(present)
    # A long label (a sector's name) wraps above its bar, and the bars below move down to make room.
    labels = [textwrap.wrap(bar.words, LABEL_CHARACTERS) or [""] for bar in bars]
    positions, at = [], 0.0
    for number, lines in enumerate(labels):
        at += (1.0 if number else 0.0) + LINE_UNITS * (len(lines) - 1)
        positions.append(at)
    top = -0.75 - (LINE_UNITS * (len(labels[0]) - 1) if labels else 0.0)
    bottom = positions[-1] + 0.4 if bars else 0.5
    fig, ax = _start(table, suppress_small, 0.85 * max(bottom - top - 0.15, 1), legend_in)
    for position, bar, lines in zip(positions, bars, labels, strict=True):
        left = 0.0
        for segment in bar.segments:
            width, hidden = float(segment.share), segment.count is None
            colour = HIDDEN_COLOUR if hidden else colours[segment.name]
            (patch,) = ax.barh(
                [position],
                [width],
                left=left,
                height=0.45,
                color=colour,
                edgecolor="#777777" if hidden else "white",
                hatch="//" if hidden else None,
            )
            if width >= 12:  # room for two digits at 14 pt
                ax.text(
                    patch.get_x() + patch.get_width() / 2,
                    patch.get_y() + patch.get_height() / 2,
                    HIDDEN if hidden else str(segment.count),
                    ha="center",
                    va="center",
                    fontsize=MIN_FONT_PT,
                    color="black" if hidden or colour in DARK_TEXT_ON else "white",
                )
            left += width
        ax.text(0, position - 0.3, "\n".join(lines), ha="left", va="bottom", fontsize=MIN_FONT_PT, linespacing=1.1)
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom, top)
    ax.set_xticks([0, 50, 100], ["0%", "50%", "100%"])
    if not bars:
        ax.text(50, 0, "No one to count yet", ha="center", va="center", fontsize=MIN_FONT_PT)
    _legend(fig, present, [colours.get(n, HIDDEN_COLOUR) for n in present], legend_in)
    return _png(fig)


@_without_mathtext
def coverage_bars(table: Table, *, suppress_small: bool = False) -> bytes:
    """For each row (a year group), one thin bar per column: the share of its people (Benchmark 3)."""
    shown = publish(table, suppress_small=suppress_small)
    indexed = [(i, r) for i, r in enumerate(table.rows) if shown.base(i) != 0]
    rows = [r for _, r in indexed]
    per_row = len(table.columns)
    legend_in = 0.32 * per_row
    step = per_row + 1.3
    fig, ax = _start(table, suppress_small, (0.35 * per_row + 0.45) * max(len(rows), 1), legend_in)
    for r, (at, row) in enumerate(indexed):
        start = r * step
        ax.text(
            0,
            start - 0.6,
            f"{row.label} ({table.base_words(shown.base(at) or 0, shown.base_text(at))})",
            ha="left",
            va="bottom",
            fontsize=MIN_FONT_PT,
        )
        for index in range(per_row):
            share = coverage_share(shown, at, index)
            ax.barh(start + index, share, height=0.8, color=PALETTE[index % len(PALETTE)])
            ax.text(share + 1.5, start + index, shown.count_text(at, index), va="center", fontsize=MIN_FONT_PT)
    ax.set_xlim(0, 115)
    ax.set_ylim(len(rows) * step - 1.0 if rows else 0.5, -1.6)
    ax.set_xticks([0, 50, 100], ["0%", "50%", "100%"])
    if not rows:
        ax.text(50, 0, "No one to count yet", ha="center", va="center", fontsize=MIN_FONT_PT)
    _legend(fig, list(table.columns), [PALETTE[i % len(PALETTE)] for i in range(per_row)], legend_in)
    return _png(fig)
