"""What a concern is about: the categories a phrase belongs to, each with the words a DSL reads."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    harm_by_adult = "harm_by_adult"
    sexual_abuse = "sexual_abuse"
    grooming = "grooming"
    self_harm = "self_harm"
    neglect = "neglect"
    domestic_abuse = "domestic_abuse"
    bullying = "bullying"
    unsafe = "unsafe"
    radicalisation = "radicalisation"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS: dict[Category, str] = {
    Category.harm_by_adult: "Harm by an adult",
    Category.sexual_abuse: "Sexual abuse or exploitation",
    Category.grooming: "Online grooming",
    Category.self_harm: "Self-harm or suicide",
    Category.neglect: "Neglect",
    Category.domestic_abuse: "Domestic abuse",
    Category.bullying: "Bullying",
    Category.unsafe: "Feeling unsafe",
    Category.radicalisation: "Radicalisation",
}
