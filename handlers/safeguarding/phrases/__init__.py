"""The default phrase lists, one module per category, written by us in our own words.

Each list is a tuple of patterns (see `handlers.safeguarding.patterns`). `QUIET` holds the contexts
that keep ordinary talk silent: a phrase found inside a quiet context raises nothing.
"""

from __future__ import annotations

from handlers.safeguarding.categories import Category
from handlers.safeguarding.phrases import (
    bullying,
    domestic_abuse,
    grooming,
    harm_by_adult,
    neglect,
    quiet,
    radicalisation,
    self_harm,
    sexual_abuse,
    unsafe,
)
from handlers.safeguarding.phrases.words import CLASSES

DEFAULTS: dict[Category, tuple[str, ...]] = {
    Category.harm_by_adult: harm_by_adult.PHRASES,
    Category.sexual_abuse: sexual_abuse.PHRASES,
    Category.grooming: grooming.PHRASES,
    Category.self_harm: self_harm.PHRASES,
    Category.neglect: neglect.PHRASES,
    Category.domestic_abuse: domestic_abuse.PHRASES,
    Category.bullying: bullying.PHRASES,
    Category.unsafe: unsafe.PHRASES,
    Category.radicalisation: radicalisation.PHRASES,
}
QUIET: tuple[str, ...] = quiet.PHRASES

__all__ = ["CLASSES", "DEFAULTS", "QUIET"]
