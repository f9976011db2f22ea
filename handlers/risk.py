"""At risk of NEET: a pure scoring function over the roster's factors and what Waymark knows.

Each factor that applies adds its weight; a total at or over the threshold flags the pupil. Staff
see the flag and the reasons in words, never the number: the number means nothing on its own and
invites ranking children. The weights follow the factors local authorities' RONI tools use; a
school changes them through `RiskWeights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from handlers.dates import spring_term_start

FINAL_YEARS = (11, 13)


@dataclass(frozen=True)
class RiskWeights:
    send_support: int = 1  # SEND K: SEN support
    ehc_plan: int = 2  # SEND E: education, health and care plan
    pupil_premium: int = 1
    eal: int = 1
    looked_after: int = 2
    young_carer: int = 1
    low_attendance: int = 2
    attendance_below: float = 90.0  # percent
    exclusions: int = 2
    no_next_step: int = 2  # no intended next step by the spring term of Year 11 or 13
    overdue_actions: int = 1
    no_guidance_this_year: int = 1
    threshold: int = 3


DEFAULT_WEIGHTS = RiskWeights()


@dataclass(frozen=True)
class RiskFacts:
    """What the score looks at, for one pupil."""

    year_group: int | None
    send: str = "N"
    pupil_premium: bool = False
    eal: bool = False
    looked_after: bool = False
    young_carer: bool = False
    attendance: float | None = None
    exclusions: int = 0
    has_next_step: bool = False
    overdue_actions: int = 0
    had_guidance_this_year: bool = False


@dataclass(frozen=True)
class Risk:
    flagged: bool
    reasons: tuple[str, ...]  # every factor that applies, in words, flagged or not

    def describe(self) -> str:
        if not self.flagged:
            return ""
        return "at risk of NEET: " + "; ".join(self.reasons)


def assess(facts: RiskFacts, today: date, weights: RiskWeights = DEFAULT_WEIGHTS) -> Risk:
    found: list[tuple[int, str]] = []
    if facts.send == "E":
        found.append((weights.ehc_plan, "EHC plan"))
    elif facts.send == "K":
        found.append((weights.send_support, "SEN support"))
    if facts.pupil_premium:
        found.append((weights.pupil_premium, "pupil premium"))
    if facts.eal:
        found.append((weights.eal, "English as an additional language"))
    if facts.looked_after:
        found.append((weights.looked_after, "looked after"))
    if facts.young_carer:
        found.append((weights.young_carer, "young carer"))
    if facts.attendance is not None and facts.attendance < weights.attendance_below:
        found.append((weights.low_attendance, f"attendance {facts.attendance:g}%"))
    if facts.exclusions > 0:
        plural = "s" if facts.exclusions != 1 else ""
        found.append((weights.exclusions, f"{facts.exclusions} exclusion{plural} this year"))
    if facts.year_group in FINAL_YEARS and not facts.has_next_step and today >= spring_term_start(today):
        found.append((weights.no_next_step, f"no intended next step yet in Year {facts.year_group}"))
    if facts.overdue_actions > 0:
        plural = "s" if facts.overdue_actions != 1 else ""
        found.append((weights.overdue_actions, f"{facts.overdue_actions} overdue action{plural}"))
    if not facts.had_guidance_this_year:
        found.append((weights.no_guidance_this_year, "no guidance conversation this school year"))
    applying = [(w, reason) for w, reason in found if w > 0]
    score = sum(w for w, _ in applying)
    return Risk(flagged=score >= weights.threshold, reasons=tuple(reason for _, reason in applying))
