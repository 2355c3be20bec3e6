"""The FAQ corpus as the admin pages exchange it: the edit form (readable errors tied to its
fields) and YAML/CSV import and export. Storing it is kefu/store/faqs.py.

CSV export neutralises formulas (OWASP "CSV injection"): a shopper's text can become a phrasing
through "add as phrasing", and a cell such as `=HYPERLINK(…)` would run when the owner opens the
export in a spreadsheet. Every cell, and every ` | `-separated part of a multi-value cell, that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in front; so does one that
starts with quotes followed by such a character (`'=x` is written `''=x`). The import takes one
`'` off exactly those cells and parts, so an export imports back to the same corpus."""

from __future__ import annotations

import csv
import io
import re
import secrets
from typing import Any

import yaml
from pydantic import ValidationError

from kefu.errors import CorpusError, Unprocessable
from kefu.faq.corpus import FAQ, MAX_FAQS, Corpus, parse_corpus
from kefu.faq.lexicon import YamlAliasError, yaml_loader

__all__ = [
    "CSV_COLUMNS",
    "corpus_from_csv",
    "corpus_from_yaml",
    "corpus_to_csv",
    "faq_from_form",
    "new_faq_id",
]

CSV_COLUMNS = ("id", "category", "question", "similar", "answer", "answer_en", "keywords", "products")
_SEPARATOR = " | "
_PROBLEM = re.compile(r"^faqs\[(\d+)\] \(([^)]*)\): (.*)$")
# A cell a spreadsheet would run as a formula (OWASP's list), after any quotes the export added.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def _form_field(loc: list[str]) -> str:
    # similar.3 → similar; answers.en → answers.en (the form has one field per language)
    return "answers." + loc[1] if loc and loc[0] == "answers" and len(loc) > 1 else (loc[0] if loc else "")


def faq_from_form(data: dict[str, Any]) -> FAQ:
    """An FAQ from the admin form's JSON; 422 with field-level details if it is not valid."""
    try:
        return FAQ.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable.from_validation(exc, "the FAQ is not valid", field=_form_field) from None


def new_faq_id(corpus: Corpus) -> str:
    taken = {faq.id for faq in corpus.faqs}
    while (candidate := f"faq-{secrets.token_hex(3)}") in taken:
        pass
    return candidate


# ---- files ----


def _neutralised(text: str) -> str:
    """`text` as a CSV cell no spreadsheet runs as a formula; `_restored` undoes it."""
    return "'" + text if _FORMULA.match(text) else text


def _restored(cell: str) -> str:
    """The text of a cell `_neutralised` wrote: one `'` less where it added one."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell


def _joined(texts: tuple[str, ...]) -> str:
    return _SEPARATOR.join(_neutralised(text) for text in texts)


def corpus_to_csv(corpus: Corpus) -> str:
    """The CSV export: one row per FAQ, formulas neutralised (see the module docstring)."""
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs need the BOM to read UTF-8 Chinese correctly
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for faq in corpus.faqs:
        writer.writerow(
            [
                _neutralised(faq.id),
                _neutralised(faq.category),
                _neutralised(faq.question),
                _joined(faq.similar),
                _neutralised(faq.answer),
                _neutralised(faq.answers.get("en", "")),
                _joined(faq.keywords),
                _joined(faq.products),
            ]
        )
    return out.getvalue()


def corpus_from_csv(text: str, shop: str) -> Corpus:
    """Read the CSV export format; 422 naming the row for every problem."""
    columns, rows = _read_csv(text)
    # A column named twice (two "answer" columns): which one holds the entry is anyone's guess,
    # and reading one of them silently would drop the other.
    twice = [c for c in CSV_COLUMNS if columns.count(c) > 1]
    if twice:
        raise Unprocessable(
            f"the CSV header names {', '.join(twice)} more than once; keep one column of each",
            details=[{"field": "", "message": f"column {c} appears {columns.count(c)} times"} for c in twice],
        )
    missing = [c for c in ("id", "question", "answer") if c not in columns]
    if missing:
        raise Unprocessable(
            f"CSV needs the columns {', '.join(CSV_COLUMNS)}; missing: {', '.join(missing)}",
            details=[{"field": "", "message": f"missing column {c}"} for c in missing],
        )
    # Cells beyond the header's columns (DictReader lists them under None) are not read.
    rows = [row for row in rows if any(v.strip() for k, v in row.items() if k is not None and v)]
    if len(rows) > MAX_FAQS:
        raise Unprocessable(
            f"the file has {len(rows)} FAQ rows; a corpus has at most {MAX_FAQS}; nothing was changed",
            details=[{"field": "", "message": f"at most {MAX_FAQS} FAQ entries, not {len(rows)}"}],
        )
    faqs: list[dict[str, Any]] = []
    for row in rows:

        def cell(key: str, row: dict[str, str] = row) -> str:
            return _restored((row.get(key) or "").strip())

        def split(key: str, row: dict[str, str] = row) -> list[str]:
            parts = (part.strip() for part in (row.get(key) or "").split("|"))
            return [_restored(part) for part in parts if part]

        entry: dict[str, Any] = {
            "id": cell("id"),
            "category": cell("category"),
            "question": cell("question"),
            "similar": split("similar"),
            "answer": cell("answer"),
            "keywords": split("keywords"),
            "products": split("products"),
        }
        if answer_en := cell("answer_en"):
            entry["answers"] = {"en": answer_en}
        faqs.append(entry)
    try:
        return parse_corpus({"shop": shop, "faqs": faqs}, source="CSV")
    except CorpusError as exc:
        raise _file_error(exc, row_offset=2) from None


def _read_csv(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows; 422 when the csv module cannot read the file (a field over its
    131072-character limit, for one)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns: list[str] | None = None
    rows: list[dict[str, Any]] = []
    try:
        columns = list(reader.fieldnames or [])
        rows.extend(reader)
    except csv.Error as exc:
        row = 1 if columns is None else len(rows) + 2  # as _file_error counts: the header is row 1
        raise Unprocessable(
            "not a readable CSV file", details=[{"field": "", "message": f"row {row}: {exc}"}]
        ) from None
    return columns, rows


def corpus_from_yaml(text: str, shop: str) -> Corpus:
    """Read a YAML (or JSON) corpus file for `shop` (its own `shop:` line may name another)."""
    try:
        raw = yaml.load(text, Loader=yaml_loader())
    except YamlAliasError as exc:
        raise Unprocessable(
            "YAML anchors (&name) and aliases (*name) are not allowed in a corpus file; nothing was changed",
            details=[{"field": "", "code": "yaml_alias", "message": str(exc)}],
        ) from None
    except yaml.YAMLError as exc:
        raise Unprocessable("not valid YAML", details=[{"field": "", "message": str(exc)}]) from None
    if isinstance(raw, dict):
        raw = {**raw, "shop": shop}
    try:
        return parse_corpus(raw, source="YAML")
    except CorpusError as exc:
        raise _file_error(exc) from None


def _file_error(exc: CorpusError, *, row_offset: int | None = None) -> Unprocessable:
    details = []
    for problem in exc.problems:
        match = _PROBLEM.match(problem)
        if match and row_offset is not None:
            problem = f"row {int(match.group(1)) + row_offset} ({match.group(2)}): {match.group(3)}"
        details.append({"field": "", "message": problem})
    return Unprocessable(f"the file has {len(details)} problem(s); nothing was changed", details=details)
