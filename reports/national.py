"""National destination figures (DfE) to set beside a school's own, where the breakdown matches.

The figures ship as `data/national_destinations.csv`, each with its release and source, copied
from REFERENCE.md. They are a comparison of similar, not identical, measures: DfE's "sustained"
means an activity held for two terms, found in administrative data, while ours is what an alumnus
or the local authority told us at a check-in; the school's cohort is small and not weighted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files

from reports.disclosure import is_small, percent

CAVEAT = (
    "National figures are DfE destination measures: similar, not identical, to ours "
    "(DfE counts an activity sustained for two terms; ours are the answers alumni gave)."
)


@dataclass(frozen=True)
class NationalFigure:
    measure: str  # "KS4" or "16-18"
    release: str  # e.g. "2023/24"
    leavers: str  # the leavers it describes, where the source says ("" where it does not)
    breakdown: str  # "all", "gender", "disadvantage"
    group: str  # "all", "F", "M", "Y" (disadvantaged), "N"
    outcome: str  # e.g. "sustained destination", "higher education"
    percent: Decimal
    source: str

    def label(self) -> str:
        leavers = f", {self.leavers} leavers" if self.leavers else ""
        return f"England {self.measure} ({self.release} release{leavers}): {self.percent}% {self.outcome}"


@cache
def figures() -> tuple[NationalFigure, ...]:
    text = files("reports").joinpath("data/national_destinations.csv").read_text(encoding="utf-8")
    return tuple(
        NationalFigure(
            row["measure"],
            row["release"],
            row["leavers"],
            row["breakdown"],
            row["group"],
            row["outcome"],
            Decimal(row["percent"]),
            row["source"],
        )
        for row in csv.DictReader(io.StringIO(text))
    )


def matching(breakdown: str, group: str) -> tuple[NationalFigure, ...]:
    """The national figures for one breakdown's group; none where DfE publishes no such figure."""
    return tuple(f for f in figures() if f.breakdown == breakdown and f.group == group)


# Our breakdowns that DfE also publishes, and the DfE name for each of our values. Pupil premium is
# DfE's "disadvantaged" (eligible for pupil premium); free school meals alone is not, so it has none.
_DFE_BREAKDOWN: dict[str, tuple[str, dict[str, str]]] = {
    "gender": ("gender", {"F": "F", "M": "M"}),
    "pupil_premium": ("disadvantage", {"Y": "Y", "N": "N"}),
}


@dataclass(frozen=True)
class Comparison:
    """One row of the school's report beside the national figures for the same group."""

    row: str  # the row's label, e.g. "Female", or "All"
    in_work_or_study: int  # alumni of the row in education, apprenticeship, employment, training or other
    alumni: int
    national: tuple[NationalFigure, ...]

    def lines(self, *, suppress_small: bool = False) -> list[str]:
        hidden = suppress_small and (is_small(self.in_work_or_study) or is_small(self.alumni))
        share = percent(self.in_work_or_study, self.alumni)
        ours = (
            "figures under 5 not shown"
            if hidden
            else f"{share}% in education, employment or training ({self.in_work_or_study} of {self.alumni})"
        )
        return [f"{self.row}: this school {ours}", *(f"  {figure.label()}" for figure in self.national)]


def comparisons(by: str, rows: Sequence[tuple[str, str, int, int]]) -> tuple[Comparison, ...]:
    """For report rows (raw value, label, in work or study, alumni) of breakdown `by`, plus the "all" row
    (value ""), those DfE has a figure for. Rows with no national figure are left out, never guessed."""
    found = []
    for value, row_label, positive, alumni in rows:
        if value == "" and row_label == "All":
            national = matching("all", "all")
        elif by in _DFE_BREAKDOWN and (group := _DFE_BREAKDOWN[by][1].get(value.upper())):
            national = matching(_DFE_BREAKDOWN[by][0], group)
        else:
            national = ()
        if national:
            found.append(Comparison(row_label, positive, alumni, national))
    return tuple(found)
