"""The national figures ship with the package and say where they came from."""

from decimal import Decimal

from reports.build import national_comparison
from reports.national import CAVEAT, figures, matching
from reports.tables import Table, destinations_table, publish
from storage.reports import GROUPS, Breakdown, DestinationCount


def test_every_figure_has_a_release_a_source_and_a_share() -> None:
    assert len(figures()) >= 10
    for figure in figures():
        assert figure.release and figure.source.startswith("DfE")
        assert Decimal(0) <= figure.percent <= Decimal(100)


def test_figures_match_by_breakdown_and_none_where_dfe_publishes_none() -> None:
    female = matching("gender", "F")
    assert {f.outcome for f in female} >= {"sustained destination", "higher education"}
    assert matching("ethnicity", "WBRI") == ()
    overall = matching("all", "all")[0]
    assert overall.label() == (
        "England 16-18 (2023/24 release, 2022/23 leavers): 78.7% sustained education apprenticeship or employment"
    )


def _table(by: Breakdown, counts: list[tuple[str, str, int]]) -> Table:
    return destinations_table([DestinationCount(v, g, n, 0) for v, g, n in counts], by=by, year_after_leaving=1)


def test_comparison_sets_dfe_figures_beside_the_school_rows_they_match() -> None:
    table = _table(
        Breakdown.gender,
        [("F", "education", 6), ("F", "NEET", 2), ("M", "employment", 3), ("M", "not known", 5), ("X", "education", 1)],
    )
    found = national_comparison(table, Breakdown.gender)
    assert [c.row for c in found] == ["Female", "Male", "All"]  # "Other": DfE publishes no figure
    female, male, everyone = found
    assert (female.in_work_or_study, female.alumni) == (6, 8)
    assert female.lines()[0] == "Female: this school 75% in education, employment or training (6 of 8)"
    assert "  England 16-18 (2022/23 release): 82.5% sustained destination" in female.lines()
    assert male.lines()[0] == "Male: this school 38% in education, employment or training (3 of 8)"  # 37.5 rounds up
    assert (everyone.in_work_or_study, everyone.alumni) == (10, 17)
    assert everyone.national == matching("all", "all")
    assert "not identical" in CAVEAT


def test_with_suppression_the_comparison_shows_only_what_the_table_publishes() -> None:
    """The share is a sum of the row's positive groups: shown only when each of them and the base are."""
    table = _table(
        Breakdown.gender,
        [("F", "education", 20), ("F", "employment", 9), ("F", "NEET", 6), ("M", "education", 30), ("M", "NEET", 2)],
    )
    shown = publish(table, suppress_small=True)
    female, male, everyone = national_comparison(table, Breakdown.gender, suppress_small=True)
    employment = GROUPS.index("employment")
    assert shown.count(0, employment) is None and shown.count(1, employment) is None  # Male's NEET 2 is hidden ...
    assert female.in_work_or_study is None and male.in_work_or_study is None  # ... so is the sum that gives it away
    assert female.lines()[0] == "Female: this school x (hidden, as in the table above)"
    assert everyone.lines()[0] == "All: this school 88% in education, employment or training (59 of 67)"
    unsuppressed = national_comparison(table, Breakdown.gender)
    assert unsuppressed[1].lines()[0] == "Male: this school 94% in education, employment or training (30 of 32)"
