"""One self-contained HTML page of report tables (and charts as PNG data), escaped, for printing or sharing.

Counts and percentages come from `reports.tables.publish` only, so a suppressed page carries no
hidden number, not even in its markup.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from reports.evidence import Evidence, gap
from reports.tables import HIDDEN_NOTE, Shown, Table, publish

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #999;padding:.25rem .5rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
caption{text-align:left;font-weight:bold;padding:.25rem 0}
.note{font-size:.85rem;color:#333}
img{max-width:100%}
.list td,.list th{text-align:left}
"""


def table_html(shown: Shown, *, gaps: bool = False) -> str:
    table = shown.table
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in (table.row_header, table.base_header, *table.columns))
    body = []
    for index, row in enumerate(shown.rows):
        cells = [f"<th scope='row'>{escape(row.label)}</th>", f"<td>{escape(shown.base_text(index))}</td>"]
        for column in range(len(table.columns)):
            share = shown.share_text(index, column)
            cells.append(f"<td>{escape(shown.count_text(index, column))}" + (f"<br>{share}" if share else "") + "</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if gaps:
        cells = ["<th scope='row'>Gap (points)</th>", "<td></td>"]
        for column in range(len(table.columns)):
            points = gap(shown, column)
            cells.append(f"<td>{'' if points is None else f'{points:+}'}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in table.notes)
    return (
        f"<table><caption>{escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{notes}"
    )


def page(title: str, sections: Sequence[str], *, suppressed: bool) -> str:
    note = f"<p class='note'>{escape(HIDDEN_NOTE)}</p>" if suppressed else ""
    return (
        "<!doctype html><html lang='en-GB'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{''.join(sections)}{note}</main></body></html>"
    )


@dataclass(frozen=True)
class Part:
    """One table of a page, with its chart (PNG) and the chart's words."""

    table: Table
    chart: bytes | None = None
    alt: str = ""


def _image(chart: bytes | None, alt: str) -> str:
    if not chart:
        return ""
    return f"<img src='data:image/png;base64,{base64.b64encode(chart).decode()}' alt='{escape(alt, quote=True)}'>"


def report_html(table: Table, *, suppress_small: bool = False, chart: bytes | None = None, alt: str = "") -> str:
    return tables_html(table.title, [Part(table, chart, alt)], suppress_small=suppress_small)


def tables_html(title: str, parts: Sequence[Part], *, suppress_small: bool = False) -> str:
    """Several tables on one page, each followed by its chart; each published by the one rule."""
    sections, suppressed = [], False
    for part in parts:
        shown = publish(part.table, suppress_small=suppress_small)
        suppressed = suppressed or shown.suppressed
        sections.append(f"<section>{table_html(shown)}{_image(part.chart, part.alt)}</section>")
    return page(title, sections, suppressed=suppressed)


def list_html(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()) -> str:
    """A plain list of people (alumni who can help) as one table: words only, no counts to hide."""
    head = "".join(f"<th scope='col'>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + f"<th scope='row'>{escape(row[0])}</th>" + "".join(f"<td>{escape(c)}</td>" for c in row[1:]) + "</tr>"
        for row in rows
    )
    table = f"<table class='list'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return page(title, [table, *(f"<p class='note'>{escape(n)}</p>" for n in notes)], suppressed=False)


def evidence_html(evidence: Evidence, *, suppress_small: bool = False) -> str:
    sections, suppressed = [], False
    for criterion in evidence.criteria:
        parts = [f"<section><h2>{escape(criterion.name)}</h2><p>{escape(criterion.evidence)}</p>"]
        for table in criterion.tables:
            shown = publish(table, suppress_small=suppress_small)
            suppressed = suppressed or shown.suppressed
            parts.append(table_html(shown, gaps=len(table.rows) == 2 and table.row_header == "Group"))
        sections.append("".join(parts) + "</section>")
    return page(evidence.title, sections, suppressed=suppressed)


def evidence_text(evidence: Evidence, *, suppress_small: bool = False) -> str:
    """The page as chat text: each criterion, then its tables as `render_text` writes them."""
    from reports.tables import render_text

    parts = [evidence.title]
    for criterion in evidence.criteria:
        parts.append(f"\n== {criterion.name} ==\n{criterion.evidence}")
        parts += [render_text(t, suppress_small=suppress_small) for t in criterion.tables]
    return "\n\n".join(parts)
