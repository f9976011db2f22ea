"""Write a realistic roster CSV of N pupils (default 10,000) for timing `waymark import-roster`.

    python bench/make_roster.py 10000 bench/roster-10k.csv
    time waymark import-roster bench/roster-10k.csv

Deterministic (fixed seed), so two runs write the same file; the header is shuffled and the file
has a BOM and CRLF line endings, as Excel writes it.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

GIVEN = [
    "Amira",
    "Oliver",
    "Olivia",
    "Noah",
    "Isla",
    "Mohammed",
    "Ava",
    "Leo",
    "Zara",
    "Jack",
    "Mia",
    "Kwame",
    "Freya",
    "Arjun",
    "Chloe",
    "Dylan",
    "Aisha",
    "Harry",
    "Lily",
    "Tomasz",
    "Grace",
    "Ravi",
    "Ella",
    "Femi",
]
FAMILY = [
    "Khan",
    "Smith",
    "Jones",
    "Patel",
    "Williams",
    "Brown",
    "Taylor",
    "Ali",
    "Wilson",
    "Evans",
    "Okafor",
    "Nowak",
    "Hughes",
    "Begum",
    "Wright",
    "Chen",
    "Murphy",
    "Roberts",
    "Mensah",
    "Walker",
]
ETHNICITY = ["WBRI", "WBRI", "WBRI", "WOTH", "AIND", "APKN", "ABAN", "BAFR", "BCRB", "MWBC", "CHNE", "WIRI", "NOBT"]
COLUMNS = [
    "upn",
    "given_name",
    "family_name",
    "date_of_birth",
    "year_group",
    "form",
    "gender",
    "ethnicity",
    "send",
    "pupil_premium",
    "fsm",
    "tutor_email",
    "leaving_date",
    "eal",
    "looked_after",
    "young_carer",
    "attendance",
    "exclusions",
]


def upn(rng: random.Random, serial: int) -> str:
    return f"{rng.choice('ABCDEFGHJKLMNPQRTUVWXYZ')}8234001{serial:05d}"


def write(count: int, path: Path, seed: int = 7, tutor_email: str = "") -> None:
    rng = random.Random(seed)
    header = COLUMNS[:]
    rng.shuffle(header)
    today = date(2025, 9, 1)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        for n in range(count):
            year = 7 + n % 7
            born = date(today.year - year - 5, 9, 1) + timedelta(days=rng.randrange(365))
            writer.writerow(
                {
                    "upn": upn(rng, n),
                    "given_name": rng.choice(GIVEN),
                    "family_name": rng.choice(FAMILY),
                    "date_of_birth": born.strftime("%d/%m/%Y"),
                    "year_group": year,
                    "form": f"{year}{'ABCD'[n % 4]}",
                    "gender": rng.choice("MF"),
                    "ethnicity": rng.choice(ETHNICITY),
                    "send": rng.choices("NKE", weights=(85, 12, 3))[0],
                    "pupil_premium": rng.choices("NY", weights=(75, 25))[0],
                    "fsm": rng.choices("NY", weights=(78, 22))[0],
                    "tutor_email": tutor_email,
                    "leaving_date": "",
                    "eal": rng.choices("NY", weights=(82, 18))[0],
                    "looked_after": rng.choices("NY", weights=(99, 1))[0],
                    "young_carer": rng.choices("NY", weights=(96, 4))[0],
                    "attendance": f"{min(100.0, rng.gauss(94, 5)):.1f}",
                    "exclusions": rng.choices([0, 1, 2], weights=(94, 5, 1))[0],
                }
            )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench/roster-10k.csv")
    write(n, out)
    print(f"wrote {n} pupils to {out}")
