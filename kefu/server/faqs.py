"""The FAQ corpus as the admin pages exchange it: the edit form (readable errors tied to its
fields) and YAML/CSV import and export. Storing it is kefu/store/faqs.py."""

from __future__ import annotations

import csv
import io
import re
import secrets
from typing import Any

import yaml
from pydantic import ValidationError

from kefu.errors import CorpusError, Unprocessable
from kefu.faq.corpus import FAQ, Corpus, parse_corpus
from kefu.faq.lexicon import yaml_loader

__all__ = [
    "CSV_COLUMNS",
    "corpus_from_csv",
    "corpus_from_yaml",
    "corpus_to_csv",
    "faq_from_form",
    "new_faq_id",
]

CSV_COLUMNS = ("id", "category", "question", "similar", "answer", "answer_en", "keywords")
_SEPARATOR = " | "
_PROBLEM = re.compile(r"^faqs\[(\d+)\] \(([^)]*)\): (.*)$")


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


def corpus_to_csv(corpus: Corpus) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs need the BOM to read UTF-8 Chinese correctly
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for faq in corpus.faqs:
        writer.writerow(
            [
                faq.id,
                faq.category,
                faq.question,
                _SEPARATOR.join(faq.similar),
                faq.answer,
                faq.answers.get("en", ""),
                _SEPARATOR.join(faq.keywords),
            ]
        )
    return out.getvalue()


def corpus_from_csv(text: str, shop: str) -> Corpus:
    """Read the CSV export format; 422 naming the row for every problem."""
    columns, rows = _read_csv(text)
    missing = [c for c in ("id", "question", "answer") if c not in columns]
    if missing:
        raise Unprocessable(
            f"CSV needs the columns {', '.join(CSV_COLUMNS)}; missing: {', '.join(missing)}",
            details=[{"field": "", "message": f"missing column {c}"} for c in missing],
        )
    faqs: list[dict[str, Any]] = []
    for row in rows:
        # Cells beyond the header's columns (DictReader lists them under None) are not read.
        if not any(v.strip() for k, v in row.items() if k is not None and v):
            continue

        def split(key: str, row: dict[str, str] = row) -> list[str]:
            return [part.strip() for part in (row.get(key) or "").split("|") if part.strip()]

        entry: dict[str, Any] = {
            "id": (row.get("id") or "").strip(),
            "category": (row.get("category") or "").strip(),
            "question": row.get("question") or "",
            "similar": split("similar"),
            "answer": row.get("answer") or "",
            "keywords": split("keywords"),
        }
        if (row.get("answer_en") or "").strip():
            entry["answers"] = {"en": row["answer_en"]}
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
