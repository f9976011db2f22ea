"""The README's example report: `waymark demo`'s school, year 1 after leaving by SEND, suppressed.

Run `python docs/readme_example.py` after changing the demo school, a report or a chart: it builds
the demo school as of a fixed day (so the figures never drift with the calendar), writes the chart
to docs/report-destinations-send.png and prints the Markdown table and the chart's words to paste
into README.md. tests/test_readme_example.py fails while the README shows other figures.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

DEMO_DAY = date(2026, 11, 23)  # a Monday in the autumn term: years 1 to 3 of the demo's leavers are due
CHART = Path(__file__).resolve().parent / "report-destinations-send.png"
COMMAND = "waymark report destinations --year-after 1 --by send --suppress-small --png chart.png"


@dataclass(frozen=True)
class Example:
    markdown: str
    chart: bytes
    alt: str


def example() -> Example:
    from core.settings import load_settings
    from reports import build
    from reports.charts import alt_text, stacked_bars
    from reports.export import to_markdown
    from storage import demo
    from storage.db import make_engine, transaction
    from storage.migrate import upgrade
    from storage.models import School
    from storage.reports import GROUPS, Breakdown

    settings = load_settings(database_url="sqlite://", timezone="Europe/London")
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'demo.db'}")
        try:
            upgrade(engine)
            with transaction(engine) as session:
                school_id, _ = demo.populate(
                    session, today=DEMO_DAY, now=datetime(2026, 11, 23, 9, tzinfo=UTC), encryption_key=None
                )
            with transaction(engine, write=False) as session:
                school = session.get(School, school_id)
                assert school is not None
                table = build.destinations(
                    session, school, settings, today=DEMO_DAY, year_after_leaving=1, by=Breakdown.send
                )
        finally:
            engine.dispose()
    return Example(
        to_markdown(table, suppress_small=True),
        stacked_bars(table, suppress_small=True, columns=len(GROUPS)),
        alt_text(table, suppress_small=True, columns=len(GROUPS)),
    )


def main() -> None:
    found = example()
    CHART.write_bytes(found.chart)
    sys.stdout.write(f"Wrote {CHART}.\n\nAlt text:\n{found.alt}\n\nTable:\n{found.markdown}\n")


if __name__ == "__main__":
    main()
