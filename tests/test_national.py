"""The national figures ship with the package and say where they came from."""

from decimal import Decimal

from reports.build import national_comparison
from reports.national import CAVEAT, figures, matching
from reports.tables import Table, destinations_table
from storage.reports import Breakdown, DestinationCount


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
    assert male.lines(suppress_small=True)[0] == "Male: this school figures under 5 not shown"
    assert "not identical" in CAVEAT


def test_pupil_premium_is_dfe_disadvantage_and_other_breakdowns_get_only_the_all_row() -> None:
    table = _table(Breakdown.pupil_premium, [("Y", "education", 5), ("N", "education", 9)])
    found = national_comparison(table, Breakdown.pupil_premium)
    assert [c.row for c in found] == ["Pupil premium", "Not pupil premium", "All"]
    assert found[0].national == matching("disadvantage", "Y")
    by_send = national_comparison(_table(Breakdown.send, [("K", "education", 5)]), Breakdown.send)
    assert [c.row for c in by_send] == ["All"]
    assert national_comparison(_table(Breakdown.fsm, []), Breakdown.fsm) == ()
