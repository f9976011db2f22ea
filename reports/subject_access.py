"""A subject access export written out: `record.json` (every field), `record.html` and `record.pdf`.

All three are made from the same flattening (`fields_of`), so what one shows the others show. The
layout of the JSON is documented in docs/record-schema.md.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from storage.subject_access import ENCRYPTED, PERSON_COLUMNS, SCHEMA, WITHHELD, Entry, Part, SubjectRecord, columns_of

REVIEW = "REVIEW BEFORE RELEASE"
SHOWN_LIMIT = 4000  # characters of one value in the HTML and PDF; record.json always has it all


@dataclass(frozen=True)
class FieldValue:
    name: str
    value: Any  # JSON-ready: str, int, float, bool or None
    review: bool  # staff-only or safeguarding words: the DPO reviews before release
    size: int | None = None  # bytes of a file's body (the value is then its base64)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def fields_of(part: Part, entry: Entry, own_copy: bool) -> list[FieldValue]:
    """Every column of the row, in table order, ready to write: credentials left out, encrypted
    columns as their decrypted text (and not at all in a person's own copy)."""
    withheld = WITHHELD.get(part.table, frozenset())
    encrypted = ENCRYPTED.get(part.table, frozenset())
    whole_review = part.info.review and part.table != "advicerecord"
    found = []
    for name in columns_of(part.table):
        if name in withheld:
            continue
        if name in encrypted:
            if own_copy:
                continue
            found.append(FieldValue(name, entry.clear.get(name), True))
            continue
        value = getattr(entry.row, name)
        if isinstance(value, bytes):  # a file offered in the chat: its contents, as base64
            found.append(FieldValue(name, base64.b64encode(value).decode("ascii"), whole_review, len(value)))
            continue
        found.append(FieldValue(name, _plain(value), whole_review))
    return found


def _review_part(part: Part, own_copy: bool) -> bool:
    return part.info.review and not own_copy


def as_json(record: SubjectRecord) -> dict[str, Any]:
    person = record.person
    parts = []
    for part in record.parts:
        rows = []
        for entry in part.entries:
            fields = fields_of(part, entry, record.own_copy)
            row: dict[str, Any] = {f.name: f.value for f in fields}
            review = [f.name for f in fields if f.review and f.value is not None]
            if review:
                row["review_before_release"] = review
            rows.append(row)
        parts.append(
            {
                "table": part.table,
                "title": part.info.title,
                "relation": part.info.relation,
                "review_before_release": _review_part(part, record.own_copy),
                "withheld_columns": sorted(WITHHELD.get(part.table, frozenset())),
                "rows": rows,
            }
        )
    return {
        "schema": SCHEMA,
        "copy": "own" if record.own_copy else "school",
        "made_at": record.made_at.isoformat(),
        "school": {"id": record.school.id, "name": record.school.name},
        "subject": {
            "id": person.id,
            "name": person.full_name,
            "role": person.role,
            "upn": person.upn,
            "email": person.email,
        },
        "names": {str(k): v for k, v in sorted(record.names.items())},
        "parts": parts,
    }


def to_json(record: SubjectRecord) -> str:
    return json.dumps(as_json(record), ensure_ascii=False, indent=2)


# ---- readable: the same fields with labels ---------------------------------------------------------


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _shown(record: SubjectRecord, field: FieldValue) -> str:
    value = field.value
    if value is None or value == "":
        return "-"
    if field.size is not None:
        return f"({field.size} bytes; in record.json as base64)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.name in PERSON_COLUMNS and isinstance(value, int) and value in record.names:
        return f"{value} ({record.names[value]})"
    text = str(value)
    if len(text) > SHOWN_LIMIT:
        return f"{text[:SHOWN_LIMIT]}… ({len(text)} characters; all of it is in record.json)"
    return text


def _heading(record: SubjectRecord) -> tuple[str, list[str]]:
    person = record.person
    title = f"{'Your record' if record.own_copy else 'Subject access record'}: {person.full_name}"
    lines = [
        f"School: {record.school.name}",
        f"Made: {record.made_at.strftime('%d %b %Y %H:%M')} UTC",
    ]
    if record.own_copy:
        lines.append(
            "This is your careers record as the school keeps it. Staff-only notes and safeguarding records are "
            "not in this copy: ask the school for a full copy (a subject access request) if you want everything."
        )
    else:
        lines.append(
            f"Everything Waymark holds about this person. Parts marked {REVIEW} hold staff-only notes or "
            "safeguarding records: the data protection officer reviews them (and any other people named) before "
            "the copy is released."
        )
    return title, lines


def to_html(record: SubjectRecord) -> str:
    title, intro = _heading(record)
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.4}"
        "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;border-top:1px solid #888;"
        "padding-top:.5rem}dt{font-weight:bold}dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}"
        ".review{background:#fff3c4;border-left:.3rem solid #8a5a00;padding:0 .3rem}"
        "dt,h1,h2,p{overflow-wrap:anywhere}"
        "@media (max-width:40rem){dl{display:block}dd{margin:0 0 .4rem}}</style>",
        "</head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    out += [f"<p>{html.escape(line)}</p>" for line in intro]
    for part in record.parts:
        mark = f' <span class="review">{REVIEW}</span>' if _review_part(part, record.own_copy) else ""
        out.append(f"<section><h2>{html.escape(part.info.title)} ({len(part.entries)}){mark}</h2>")
        out.append(f"<p>{html.escape(part.info.relation)}</p>")
        for entry in part.entries:
            out.append("<dl>")
            for field in fields_of(part, entry, record.own_copy):
                flag = f' <span class="review">{REVIEW}</span>' if field.review and field.value is not None else ""
                out.append(
                    f"<dt>{html.escape(_label(field.name))}{flag}</dt><dd>{html.escape(_shown(record, field))}</dd>"
                )
            out.append("</dl>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out)


# ---- PDF ------------------------------------------------------------------------------------------


def _font_dir() -> Path:
    """matplotlib's own copy of DejaVu Sans (found without importing matplotlib, which is slow)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def to_pdf(record: SubjectRecord) -> bytes:
    from fpdf import FPDF  # here: only exports need it

    pdf = FPDF(format="A4")
    title, intro = _heading(record)
    pdf.set_title(title)
    pdf.set_author(record.school.name)
    # One face, headings set apart by size: loading a TrueType font is most of a short PDF's cost.
    pdf.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def write(text: str, size: float = 9, gap: float = 0) -> None:
        pdf.set_font("DejaVu", "", size)
        height = size * 0.5
        # Most values fit one line: a plain cell skips multi_cell's line breaking, which is slow.
        if "\n" not in text and pdf.get_string_width(text) < width:
            pdf.cell(width, height, text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(width, height, text, new_x="LMARGIN", new_y="NEXT")
        if gap:
            pdf.ln(gap)

    write(title, 15, 2)
    for line in intro:
        write(line, 9, gap=1)
    for part in record.parts:
        pdf.ln(3)
        mark = f"  [{REVIEW}]" if _review_part(part, record.own_copy) else ""
        write(f"{part.info.title} ({len(part.entries)}){mark}", 12)
        write(part.info.relation, 8, gap=1)
        for entry in part.entries:
            for field in fields_of(part, entry, record.own_copy):
                flag = f" [{REVIEW}]" if field.review and field.value is not None else ""
                write(f"{_label(field.name)}{flag}: {_shown(record, field)}", 8)
            pdf.ln(2)
    return bytes(pdf.output())


def write_all(record: SubjectRecord, out_dir: Path) -> list[Path]:
    """record.json, record.html and record.pdf in `out_dir` (made if missing); the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in (
        ("record.json", to_json(record).encode("utf-8")),
        ("record.html", to_html(record).encode("utf-8")),
        ("record.pdf", to_pdf(record)),
    ):
        path = out_dir / name
        path.write_bytes(body)
        written.append(path)
    return written
