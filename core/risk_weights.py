"""The at-risk-of-NEET weights, a school setting: on the ground floor, because the rule has two forms
that must agree, the pure function in `handlers.risk` (with reasons in words, for staff) and the SQL
in `storage.reports` (for counting pupils on the Benchmark 3 evidence page).
"""

from __future__ import annotations

from dataclasses import dataclass

FINAL_YEARS = (11, 13)  # "no intended next step" matters from the spring term of these years


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
