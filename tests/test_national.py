"""The national figures ship with the package and say where they came from."""

from decimal import Decimal

from reports.national import figures, matching


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
