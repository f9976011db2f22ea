"""The at-risk-of-NEET score: a flag with reasons in words, from roster factors and what Waymark knows."""

from __future__ import annotations

import json
from datetime import date

import pytest

from handlers.risk import (
    DEFAULT_WEIGHTS,
    RiskFacts,
    RiskWeights,
    WeightError,
    assess,
    parse_weight,
    weights_from_json,
    weights_to_json,
)

AUTUMN = date(2026, 11, 23)
SPRING = date(2027, 2, 1)


def test_a_pupil_with_nothing_to_note_is_not_flagged() -> None:
    risk = assess(RiskFacts(year_group=9, had_guidance_this_year=True, attendance=97.0), AUTUMN)
    assert not risk.flagged and risk.reasons == () and risk.describe() == ""


def test_roster_factors_add_up_to_a_flag_with_reasons_in_words() -> None:
    facts = RiskFacts(year_group=10, send="K", attendance=85.5, pupil_premium=True, had_guidance_this_year=True)
    risk = assess(facts, AUTUMN)
    assert risk.flagged
    assert risk.reasons == ("SEN support", "pupil premium", "attendance 85.5%")
    assert risk.describe() == "at risk of NEET: SEN support; pupil premium; attendance 85.5%"
    assert not any(ch.isdigit() for ch in risk.describe().replace("85.5", ""))  # never a bare score


def test_one_factor_alone_is_a_reason_but_not_a_flag() -> None:
    risk = assess(RiskFacts(year_group=8, eal=True, had_guidance_this_year=True), AUTUMN)
    assert not risk.flagged and risk.reasons == ("English as an additional language",)


def test_no_next_step_counts_from_the_spring_term_of_year_11_and_13_only() -> None:
    facts = RiskFacts(year_group=11, had_guidance_this_year=False)
    assert "no intended next step yet in Year 11" not in assess(facts, AUTUMN).reasons
    spring = assess(facts, SPRING)
    assert "no intended next step yet in Year 11" in spring.reasons and spring.flagged
    assert not assess(RiskFacts(year_group=12), SPRING).reasons.count("no intended next step yet in Year 12")
    assert not assess(RiskFacts(year_group=13, has_next_step=True, had_guidance_this_year=True), SPRING).flagged


def test_what_waymark_knows_counts_too() -> None:
    risk = assess(RiskFacts(year_group=9, overdue_actions=2, exclusions=1, looked_after=True), AUTUMN)
    assert risk.reasons == (
        "looked after",
        "1 exclusion this year",
        "2 overdue actions",
        "no guidance conversation this school year",
    )


def test_weights_are_a_school_setting() -> None:
    facts = RiskFacts(year_group=9, young_carer=True, had_guidance_this_year=True)
    assert not assess(facts, AUTUMN).flagged
    assert assess(facts, AUTUMN, RiskWeights(young_carer=3)).flagged
    no_pp = RiskWeights(pupil_premium=0)
    assert "pupil premium" not in assess(RiskFacts(year_group=9, pupil_premium=True), AUTUMN, no_pp).reasons
    ehc = assess(RiskFacts(year_group=9, send="E", had_guidance_this_year=True), AUTUMN, RiskWeights(threshold=2))
    assert ehc.flagged and ehc.reasons == ("EHC plan",)


def test_school_weights_are_stored_as_the_changes_and_bad_stored_values_are_skipped() -> None:
    changed = RiskWeights(looked_after=3, attendance_below=92.5)
    stored = weights_to_json(changed)
    assert json.loads(stored) == {"looked_after": 3, "attendance_below": 92.5}  # only what differs
    assert weights_from_json(stored) == changed
    assert weights_to_json(DEFAULT_WEIGHTS) == "" and weights_from_json("") == DEFAULT_WEIGHTS
    # An older name, a bad number or broken JSON never stops the caseload from opening.
    assert weights_from_json('{"shoe_size": 4, "eal": "lots", "young_carer": 2}') == RiskWeights(young_carer=2)
    assert weights_from_json("{not json") == DEFAULT_WEIGHTS
    assert weights_from_json("[1, 2]") == DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    ("name", "raw", "words"),
    [
        ("shoe_size", "1", "unknown weight"),
        ("eal", "x", "not a number"),
        ("eal", "-1", "from 0 to 100"),
        ("eal", "nan", "from 0 to 100"),
        ("eal", "1.5", "whole number"),
        ("threshold", "0", "flag every pupil"),
    ],
)
def test_bad_weights_are_refused_in_words(name: str, raw: str, words: str) -> None:
    with pytest.raises(WeightError, match=words):
        parse_weight(name, raw)
    assert parse_weight("attendance_below", "92.5") == 92.5 and parse_weight("eal", " 2 ") == 2
