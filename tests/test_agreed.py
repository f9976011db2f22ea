"""Reading agreed actions out of a tutor's one message (handlers/agreed.py): a pure function."""

from __future__ import annotations

from datetime import date

from handlers.agreed import split_agreed

MONDAY = date(2026, 11, 23)


def test_agreed_heading_inline_or_on_its_own_line() -> None:
    said = split_agreed("Talked it through. Agreed: ring the college next Friday; write a CV", MONDAY)
    assert said.summary == "Talked it through."
    assert said.actions == [("ring the college", date(2026, 11, 27)), ("write a CV", None)]
    said = split_agreed(
        "Options after Year 11.\nAgreed actions:\n- Visit the open day by 12 Dec\n2) Book a taster", MONDAY
    )
    assert said.summary == "Options after Year 11."
    assert said.actions == [("Visit the open day", date(2026, 12, 12)), ("Book a taster", None)]


def test_bullet_lines_are_actions_and_plain_text_is_all_summary() -> None:
    said = split_agreed("Talked about apprenticeships\n* Research three in 2 weeks\n• Ask Mum", MONDAY)
    assert said.summary == "Talked about apprenticeships"
    assert said.actions == [("Research three", date(2026, 12, 7)), ("Ask Mum", None)]
    plain = "We disagreed: she prefers college; he said - later - maybe"
    assert split_agreed(plain, MONDAY).actions == [] and split_agreed(plain, MONDAY).summary == plain
