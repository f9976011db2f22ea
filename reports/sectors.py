"""Sectors: our own short list that interests and destinations are grouped into for the equality lens.

Pupils pick a sector as a button; free text ("vet nurse", "BSc Computer Science at Leeds",
"apprentice electrician") is classified by keyword rules of our own, which a school can extend.
What no rule matches is shown as unclassified, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Sector:
    key: str
    label: str
    keywords: tuple[str, ...]


SECTORS: tuple[Sector, ...] = (
    Sector(
        "stem",
        "Science, technology, engineering and maths",
        (
            "science",
            "scientist",
            "engineer",
            "engineering",
            "computing",
            "computer",
            "software",
            "coding",
            "programmer",
            "developer",
            "data",
            "maths",
            "mathematics",
            "physics",
            "chemistry",
            "biology",
            "laboratory",
            "lab technician",
            "cyber",
            "it support",
            "information technology",
            "robotics",
            "aerospace",
            "electronics",
        ),
    ),
    Sector(
        "health",
        "Health and care",
        (
            "nurse",
            "nursing",
            "doctor",
            "medicine",
            "medical",
            "midwife",
            "midwifery",
            "paramedic",
            "dentist",
            "dental",
            "pharmacy",
            "pharmacist",
            "physiotherapy",
            "physio",
            "care",
            "carer",
            "care worker",
            "health",
            "healthcare",
            "nhs",
            "vet",
            "veterinary",
            "psychology",
            "radiography",
            "optometry",
        ),
    ),
    Sector(
        "trades",
        "Construction and trades",
        (
            "construction",
            "builder",
            "building",
            "bricklayer",
            "bricklaying",
            "electrician",
            "electrical",
            "plumber",
            "plumbing",
            "carpenter",
            "carpentry",
            "joiner",
            "joinery",
            "plasterer",
            "roofer",
            "mechanic",
            "motor vehicle",
            "welder",
            "welding",
            "hvac",
            "gas engineer",
            "surveyor",
            "architect",
        ),
    ),
    Sector(
        "creative",
        "Creative and media",
        (
            "art",
            "artist",
            "design",
            "designer",
            "graphic",
            "fashion",
            "music",
            "musician",
            "drama",
            "acting",
            "actor",
            "dance",
            "dancer",
            "film",
            "photography",
            "media",
            "journalism",
            "journalist",
            "games design",
            "animation",
            "writer",
            "writing",
            "theatre",
            "makeup",
            "hairdresser",
            "hairdressing",
            "beauty",
        ),
    ),
    Sector(
        "business",
        "Business and finance",
        (
            "business",
            "accountant",
            "accounting",
            "accountancy",
            "finance",
            "banking",
            "bank",
            "economics",
            "marketing",
            "sales",
            "retail",
            "management",
            "entrepreneur",
            "admin",
            "administration",
            "hr",
            "insurance",
            "law",
            "lawyer",
            "solicitor",
            "legal",
            "paralegal",
        ),
    ),
    Sector(
        "public",
        "Public and uniformed services",
        (
            "police",
            "army",
            "navy",
            "raf",
            "armed forces",
            "military",
            "firefighter",
            "fire service",
            "prison",
            "civil service",
            "council",
            "social work",
            "social worker",
            "public services",
            "politics",
        ),
    ),
    Sector(
        "education",
        "Education and childcare",
        (
            "teacher",
            "teaching",
            "teaching assistant",
            "education",
            "childcare",
            "nursery",
            "early years",
            "lecturer",
            "tutor",
            "youth work",
            "youth worker",
            "coach",
            "coaching",
        ),
    ),
    Sector(
        "hospitality",
        "Hospitality, travel and sport",
        (
            "chef",
            "cook",
            "cooking",
            "catering",
            "hospitality",
            "hotel",
            "restaurant",
            "barista",
            "bakery",
            "baker",
            "travel",
            "tourism",
            "cabin crew",
            "events",
            "sport",
            "sports",
            "football",
            "fitness",
            "personal trainer",
            "leisure",
        ),
    ),
    Sector(
        "land",
        "Land-based and animals",
        (
            "farming",
            "farm",
            "farmer",
            "agriculture",
            "horticulture",
            "gardening",
            "gardener",
            "forestry",
            "animal",
            "animals",
            "animal care",
            "equine",
            "horse",
            "zoo",
            "landscaping",
            "environment",
            "conservation",
            "fishing",
        ),
    ),
)

_BY_KEY = {s.key: s for s in SECTORS}
# Labels short enough for a button on a 320-pixel phone.
BUTTON_LABELS: dict[str, str] = {
    "stem": "Science & tech (STEM)",
    "health": "Health & care",
    "trades": "Construction & trades",
    "creative": "Creative & media",
    "business": "Business & finance",
    "public": "Public services",
    "education": "Education & childcare",
    "hospitality": "Hospitality & sport",
    "land": "Land & animals",
}


def picked(stored: str) -> list[str]:
    """Sector keys a pupil picked (as stored on their row), ours only, in our order."""
    chosen = set(stored.split(","))
    return [s.key for s in SECTORS if s.key in chosen]


def label(key: str) -> str:
    return _BY_KEY[key].label if key in _BY_KEY else "Unclassified"


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


@cache
def _pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(_normal(keyword))}(?![a-z0-9])")


def classify(text: str, extra: Mapping[str, str] | None = None) -> str:
    """The sector whose keywords `text` names most (a school's own `extra` keywords first); else unclassified.

    A longer keyword counts for more than its words, so "gas engineer" is a trade, not STEM.
    """
    words = _normal(text)
    if not words:
        return UNCLASSIFIED
    for keyword, key in (extra or {}).items():
        if key in _BY_KEY and _pattern(keyword).search(words):
            return key
    scores: dict[str, int] = {}
    for sector in SECTORS:
        for keyword in sector.keywords:
            if _pattern(keyword).search(words):
                scores[sector.key] = scores.get(sector.key, 0) + len(keyword.split())
    if not scores:
        return UNCLASSIFIED
    best = max(scores.values())
    return next(s.key for s in SECTORS if scores.get(s.key) == best)
