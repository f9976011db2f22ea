"""Charts as PNG bytes, drawn with matplotlib's "Agg" backend (no display needed).

matplotlib takes about a second to import, so it is imported inside the function: the bot and the
command line start fast and pay only when someone asks for a chart.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import ParamSpec

from reports.tables import HIDDEN, Shown, Table, publish

P = ParamSpec("P")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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


def stacked_segments(shown: Shown, columns: int) -> list[Bar]:
    """What `stacked_bars` draws, from the published numbers only: each shown count at its share,
    then every hidden count of the row as one block of what is left (the base less the shown
    counts, itself worked out from published figures); a row with a hidden base is one hidden block.
    """
    bars = []
    for index, row in enumerate(shown.table.rows):
        base = shown.base(index)
        label = f"{row.label} ({shown.base_text(index)})"
        if base == 0:
            continue
        if base is None:
            bars.append(Bar(label, (Segment(HIDDEN_NAME, None, Decimal(100)),)))
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
        bars.append(Bar(label, tuple(segments)))
    return bars


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

    Bars show percentages so that groups of different sizes compare; each segment is labelled with
    its count. With `suppress_small` the bars come from `stacked_segments`: hidden counts are one
    hatched block, never drawn at their true widths.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = table.columns[: columns if columns is not None else len(table.columns)]
    bars = stacked_segments(publish(table, suppress_small=suppress_small), len(names))
    fig = Figure(figsize=(9, 1.6 + 0.55 * max(len(bars), 1)), dpi=110)
    ax = fig.add_subplot()
    labels = [bar.label for bar in bars]
    colours = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}
    drawn: set[str] = set()
    for position, bar in enumerate(bars):
        left = 0.0
        for segment in bar.segments:
            width = float(segment.share)
            hidden = segment.count is None
            colour = HIDDEN_COLOUR if hidden else colours[segment.name]
            (patch,) = ax.barh(
                [labels[position]],
                [width],
                left=left,
                color=colour,
                edgecolor="#777777" if hidden else "white",
                hatch="//" if hidden else None,
                label=segment.name if segment.name not in drawn else "_nolegend_",
            )
            drawn.add(segment.name)
            if width >= 6:
                text = HIDDEN if hidden else str(segment.count)
                dark = hidden or colour in {"#BBBBBB", "#56B4E9", "#E69F00"}
                ax.text(
                    patch.get_x() + patch.get_width() / 2,
                    patch.get_y() + patch.get_height() / 2,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if dark else "white",
                )
            left += width
    handles, legend_labels = ax.get_legend_handles_labels()
    order = sorted(range(len(legend_labels)), key=lambda i: [*names, HIDDEN_NAME].index(legend_labels[i]))
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"Share of {table.base_header.lower()} (%)")
    ax.set_ylabel(table.row_header)
    ax.invert_yaxis()
    # Wrapping measures each line as mathtext whenever it has two `$`, whatever parse_math says
    # (matplotlib 3.10): escaped dollars are measured and drawn as plain dollars.
    ax.set_title(table.title.replace("$", r"\$"), fontsize=10, wrap=True, parse_math=True)
    if not bars:
        ax.text(50, 0, "No one to count yet", ha="center", va="center")
    ax.legend(
        [handles[i] for i in order],
        [legend_labels[i] for i in order],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18 - 0.4 / max(len(bars), 1)),
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def coverage_share(shown: Shown, row: int, column: int) -> float:
    """The bar `coverage_bars` draws: the published share, or no bar (0) when it is hidden."""
    share = shown.share(row, column)
    return 0.0 if share is None else float(share)


@_without_mathtext
def coverage_bars(table: Table, *, suppress_small: bool = False) -> bytes:
    """Grouped horizontal bars: for each row, the share of its people in each column (Benchmark 3)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = publish(table, suppress_small=suppress_small)
    indexed = [(i, r) for i, r in enumerate(table.rows) if r.base > 0]
    rows = [r for _, r in indexed]
    height = 0.8 / max(len(table.columns), 1)
    fig = Figure(figsize=(9, 1.8 + 0.9 * max(len(rows), 1)), dpi=110)
    ax = fig.add_subplot()
    for index, name in enumerate(table.columns):
        positions = [i + index * height for i in range(len(rows))]
        shares = [coverage_share(shown, row, index) for row, _ in indexed]
        bars = ax.barh(positions, shares, height=height, color=PALETTE[index % len(PALETTE)], label=name)
        for bar, (row, _) in zip(bars, indexed, strict=True):
            ax.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                shown.count_text(row, index),
                va="center",
                fontsize=7,
            )
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
    ax.set_yticklabels([f"{r.label} ({shown.base_text(i)})" for i, r in indexed])
    ax.set_xlim(0, 105)
    ax.set_xlabel(f"Share of {table.base_header.lower()} (%)")
    ax.invert_yaxis()
    ax.set_title(table.title, fontsize=10)
    if not rows:
        ax.text(50, 0, "No one to count yet", ha="center", va="center")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
