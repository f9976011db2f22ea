"""National destination figures (DfE) to set beside a school's own, where the breakdown matches.

The figures ship as `data/national_destinations.csv`, each with its release and source, copied
from REFERENCE.md. They are a comparison of similar, not identical, measures: DfE's "sustained"
means an activity held for two terms, found in administrative data, while ours is what an alumnus
or the local authority told us at a check-in; the school's cohort is small and not weighted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files

from reports.disclosure import percent
from reports.tables import GROUP_LABELS, HIDDEN, Shown, value_label
from storage.reports import POSITIVE_GROUPS, Breakdown

IN_WORK_OR_STUDY = "in education, employment or training"
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
    """One row of the school's report beside the national figures for the same group.

    The school's figures are the published ones (`reports.tables.publish`): None where the report
    hides them, so the comparison can never show what the table it sits under hides."""

    row: str  # the row's label, e.g. "Female", or "All"
    in_work_or_study: int | None  # alumni of the row in education, apprenticeship, employment, training or other
    alumni: int | None
    national: tuple[NationalFigure, ...]

    def lines(self) -> list[str]:
        if self.in_work_or_study is None or self.alumni is None:
            ours = f"{HIDDEN} (hidden, as in the table above)"
        else:
            share = percent(self.in_work_or_study, self.alumni)
            ours = f"{share}% {IN_WORK_OR_STUDY} ({self.in_work_or_study} of {self.alumni})"
        return [f"{self.row}: this school {ours}", *(f"  {figure.label()}" for figure in self.national)]


def _national(by: Breakdown, value: str | None) -> tuple[NationalFigure, ...]:
    """DfE's figures for one of our rows (value None: the "All" row); none where DfE publishes none."""
    if value is None:
        return matching("all", "all")
    if by.value in _DFE_BREAKDOWN and (group := _DFE_BREAKDOWN[by.value][1].get(value.upper())):
        return matching(_DFE_BREAKDOWN[by.value][0], group)
    return ()


def beside(shown: Shown, by: Breakdown) -> tuple[Comparison, ...]:
    """The DfE figures beside a published destinations table's rows, where DfE has the same breakdown.

    The school's share in work or study is the sum of the row's published positive groups, so it is
    shown only when every one of them and the row's base are shown: a sum of hidden counts, or a
    share of a hidden base, would give back what the table hides."""
    table = shown.table
    if not table.rows:
        return ()
    positive = [table.columns.index(GROUP_LABELS[g]) for g in POSITIVE_GROUPS]
    # Row labels back to the roster values DfE's groups are named by ("Female" is "F").
    raw = {value_label(by, v): v for v in ("F", "M", "Y", "N")}
    found = []
    for index, row in enumerate(shown.rows):
        is_all = index == len(table.rows)
        national = _national(by, None if is_all else raw.get(row.label, "?"))
        if not national:
            continue
        counts = [shown.count(index, c) for c in positive]
        total = None if None in counts else sum(c or 0 for c in counts)
        found.append(Comparison(row.label, total, shown.base(index), national))
    return tuple(found)
