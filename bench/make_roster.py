"""Write a realistic roster CSV of N pupils (default 10,000) for timing `waymark import-roster`.

    python bench/make_roster.py 10000 bench/roster-10k.csv
    time waymark import-roster bench/roster-10k.csv

The rows come from storage.seed, which builds the demo school and the tests' people too.
Deterministic (fixed seed), so two runs write the same file; the header is shuffled and the file
has a BOM and CRLF line endings, as Excel writes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from storage.seed import write_roster

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench/roster-10k.csv")
    write_roster(n, out)
    print(f"wrote {n} pupils to {out}")
