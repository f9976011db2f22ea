"""Charts as PNG bytes, drawn with matplotlib's "Agg" backend (no display needed).

matplotlib takes about a second to import, so it is imported inside the function: the bot and the
command line start fast and pay only when someone asks for a chart.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import ParamSpec

from reports.tables import Table, count_text, is_small

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
    its count ("<5" when small counts are suppressed).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = table.columns[: columns if columns is not None else len(table.columns)]
    rows = [r for r in table.rows if r.base > 0]
    fig = Figure(figsize=(9, 1.6 + 0.55 * max(len(rows), 1)), dpi=110)
    ax = fig.add_subplot()
    labels = [f"{r.label} ({count_text(r.base, suppress_small)})" for r in rows]
    left = [0.0] * len(rows)
    for index, name in enumerate(shown):
        counts = [r.cells[index] for r in rows]
        shares = [100.0 * c / r.base for c, r in zip(counts, rows, strict=True)]
        bars = ax.barh(labels, shares, left=left, color=PALETTE[index % len(PALETTE)], label=name, edgecolor="white")
        for bar, count, share in zip(bars, counts, shares, strict=True):
            if count and share >= 6:
                text = "<5" if suppress_small and is_small(count) else str(count)
                colour = "black" if PALETTE[index % len(PALETTE)] in {"#BBBBBB", "#56B4E9", "#E69F00"} else "white"
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_y() + bar.get_height() / 2,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"Share of {table.base_header.lower()} (%)")
    ax.set_ylabel(table.row_header)
    ax.invert_yaxis()
    # Wrapping measures each line as mathtext whenever it has two `$`, whatever parse_math says
    # (matplotlib 3.10): escaped dollars are measured and drawn as plain dollars.
    ax.set_title(table.title.replace("$", r"\$"), fontsize=10, wrap=True, parse_math=True)
    if not rows:
        ax.text(50, 0, "No one to count yet", ha="center", va="center")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.4 / max(len(rows), 1)), ncol=4, fontsize=8, frameon=False
    )
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


@_without_mathtext
def coverage_bars(table: Table, *, suppress_small: bool = False) -> bytes:
    """Grouped horizontal bars: for each row, the share of its people in each column (Benchmark 3)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = [r for r in table.rows if r.base > 0]
    height = 0.8 / max(len(table.columns), 1)
    fig = Figure(figsize=(9, 1.8 + 0.9 * max(len(rows), 1)), dpi=110)
    ax = fig.add_subplot()
    for index, name in enumerate(table.columns):
        positions = [i + index * height for i in range(len(rows))]
        shares = [100.0 * r.cells[index] / r.base for r in rows]
        bars = ax.barh(positions, shares, height=height, color=PALETTE[index % len(PALETTE)], label=name)
        for bar, row in zip(bars, rows, strict=True):
            count = row.cells[index]
            ax.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                count_text(count, suppress_small),
                va="center",
                fontsize=7,
            )
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
    ax.set_yticklabels([f"{r.label} ({count_text(r.base, suppress_small)})" for r in rows])
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
