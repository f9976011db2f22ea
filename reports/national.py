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
