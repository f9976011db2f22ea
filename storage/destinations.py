"""Destination categories: the plain words an alumnus picks, and the NCCIS activity codes behind them.

The table follows DESIGN.md ("Destinations"). Each category carries the code recorded when an
alumnus picks it (`code`) and every code staff may refine it to (`codes`), so figures compare with
the DfE destination measures and can be sent to the local authority.
"""

from __future__ import annotations

from dataclasses import dataclass

CANNOT_BE_CONTACTED = 820  # no answer after the campaign's reminders, for that year
NOT_KNOWN = 810  # nothing known at all
# Groups in which holding on for two years means something (DESIGN.md, "Destinations").
POSITIVE_GROUPS: tuple[str, ...] = ("education", "apprenticeship", "employment", "training", "other")


@dataclass(frozen=True)
class Category:
    key: str  # stable, short; used in button data
    label: str  # what the alumnus sees
    code: int  # NCCIS code recorded from the alumnus's own answer
    group: str  # education | apprenticeship | employment | training | other | NEET | not known
    codes: tuple[int, ...] = ()  # every NCCIS code staff may refine this choice to

    @property
    def refinable(self) -> tuple[int, ...]:
        return self.codes or (self.code,)


CATEGORIES: tuple[Category, ...] = (
    Category("sixth_form", "School sixth form", 210, "education"),
    Category("sixth_form_college", "Sixth-form college", 220, "education"),
    Category("fe_college", "College (further education)", 230, "education"),
    Category("university", "University (higher education)", 240, "education"),
    Category("part_time_study", "Part-time study", 250, "education"),
    Category("apprenticeship", "Apprenticeship", 310, "apprenticeship"),
    Category("job_with_training", "Job with training or study", 320, "employment", (320, 340)),
    Category("job_without_training", "Job without training", 330, "employment"),
    Category("self_employed", "Self-employed", 380, "employment"),
    Category("training", "Training course or traineeship", 430, "training", (430, 450)),
    Category("gap_year", "Gap year", 260, "other"),
    Category("looking_for_work", "Looking for work", 619, "NEET"),
    Category("not_working", "Not working or studying right now", 680, "NEET", (610, 620, 630, 640, 650, 660, 670, 680)),
    Category("prefer_not_to_say", "Prefer not to say", 830, "not known"),
)

# What the finer codes mean (REFERENCE.md, "NCCIS current activity codes"), for staff choosing one.
CODE_LABELS: dict[int, str] = {
    320: "full-time job with study (regulated qualification)",
    340: "job with training (other)",
    430: "other training",
    450: "traineeship",
    610: "not ready for work or learning",
    620: "young carer",
    630: "teenage parent",
    640: "illness",
    650: "pregnancy",
    660: "religious grounds",
    670: "unlikely to be economically active",
    680: "other reason",
}

_BY_KEY = {c.key: c for c in CATEGORIES}
_BY_CODE = {code: c for c in CATEGORIES for code in c.refinable}


def by_key(key: str) -> Category | None:
    return _BY_KEY.get(key)


def by_code(code: int) -> Category | None:
    return _BY_CODE.get(code)


def group_of(code: int) -> str:
    """The group a code counts in; 810/820 are 'not known'."""
    category = _BY_CODE.get(code)
    return category.group if category else "not known"


def sustained(previous_group: str | None, current_group: str) -> bool:
    """A destination held for two consecutive check-ins in the same group counts as sustained."""
    return previous_group is not None and previous_group == current_group and current_group not in {"NEET", "not known"}
