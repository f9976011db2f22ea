"""Free-text interests and destinations fall into our sectors, or are honestly unclassified."""

import pytest

from reports.sectors import SECTORS, UNCLASSIFIED, classify, label


@pytest.mark.parametrize(
    ("text", "sector"),
    [
        ("Vet nurse", "health"),
        ("BSc Computer Science at Leeds", "stem"),
        ("Apprentice electrician with Balfour", "trades"),
        ("gas engineer", "trades"),
        ("Level 3 Childcare at Northgate College", "education"),
        ("Chef at the Crown Hotel", "hospitality"),
        ("Graphic design", "creative"),
        ("ACCOUNTANCY apprenticeship", "business"),
        ("Joining the RAF", "public"),
        ("Animal care, level 2", "land"),
        ("I like it", UNCLASSIFIED),  # "it" alone is a pronoun far more often than a subject
        ("IT support technician", "stem"),
        ("Something with kites", UNCLASSIFIED),
        ("", UNCLASSIFIED),
    ],
)
def test_keywords_classify_free_text(text: str, sector: str) -> None:
    assert classify(text) == sector


def test_a_school_can_add_its_own_keywords_and_they_win() -> None:
    assert classify("Kite surfing instructor") == UNCLASSIFIED
    assert classify("Kite surfing instructor", {"kite surfing": "hospitality"}) == "hospitality"
    assert classify("Vet nurse", {"vet": "land"}) == "land"
    assert classify("Vet nurse", {"vet": "no-such-sector"}) == "health"


def test_every_sector_has_a_label_and_unknown_keys_read_unclassified() -> None:
    assert all(label(s.key) == s.label for s in SECTORS)
    assert label(UNCLASSIFIED) == "Unclassified"
