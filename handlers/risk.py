"""At risk of NEET: a pure scoring function over the roster's factors and what Waymark knows.

Each factor that applies adds its weight; a total at or over the threshold flags the pupil. Staff
see the flag and the reasons in words, never the number: the number means nothing on its own and
invites ranking children. The weights follow the factors local authorities' RONI tools use; a
school changes them through `RiskWeights`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from datetime import date

from core.calendar import spring_term_start
from core.risk_weights import FINAL_YEARS, RiskWeights

__all__ = ["FINAL_YEARS", "RiskWeights"]  # they live in core, so storage's SQL form of the rule can read them


DEFAULT_WEIGHTS = RiskWeights()
WEIGHT_NAMES = tuple(f.name for f in fields(RiskWeights))
MAX_WEIGHT = 100


class WeightError(ValueError):
    """A weight setting that cannot be used, in words for the person who typed it."""


def parse_weight(name: str, raw: object) -> int | float:
    """One weight as the school sets it: a whole number from 0 to 100 (attendance_below: a percentage)."""
    if name not in WEIGHT_NAMES:
        raise WeightError(f"unknown weight {name!r}; the weights are: {', '.join(WEIGHT_NAMES)}")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise WeightError(f"{name}={raw}: not a number") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_WEIGHT:
        raise WeightError(f"{name}={raw}: use a number from 0 to {MAX_WEIGHT}")
    if name == "attendance_below":
        return value
    if not value.is_integer():
        raise WeightError(f"{name}={raw}: use a whole number")
    if name == "threshold" and value < 1:
        raise WeightError("threshold=0 would flag every pupil; use 1 or more")
    return int(value)


def weights_from_json(text: str) -> RiskWeights:
    """The school's weights (a JSON object of changed values) over the defaults.

    A stored value that no longer makes sense (an older name, a bad number) is skipped, not fatal:
    the caseload must still open.
    """
    try:
        stored = json.loads(text) if text.strip() else {}
    except ValueError:
        return DEFAULT_WEIGHTS
    if not isinstance(stored, dict):
        return DEFAULT_WEIGHTS
    changes: dict[str, int | float] = {}
    for name, raw in stored.items():
        try:
            changes[name] = parse_weight(str(name), raw)
        except WeightError:
            continue
    return replace(DEFAULT_WEIGHTS, **changes)  # type: ignore[arg-type]


def weights_to_json(weights: RiskWeights) -> str:
    """Only the weights that differ from the defaults, so a later change of default reaches the school."""
    changed = {n: getattr(weights, n) for n in WEIGHT_NAMES if getattr(weights, n) != getattr(DEFAULT_WEIGHTS, n)}
    return json.dumps(changed, sort_keys=True) if changed else ""


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
