"""Reading records other instances wrote. During a rolling deploy a newer kefu may store a field
this one does not know; the record is then read without it (logged once per kind of record and
field), instead of failing every request and background loop that touches it. Writes from forms
and uploads stay strict: unknown fields there are the sender's mistake."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import structlog
from pydantic import BaseModel, ValidationError

from kefu.errors import Conflict
from kefu.faq.corpus import Corpus, parse_corpus

__all__ = ["read_stored", "stored_corpus", "unknown_fields"]

M = TypeVar("M", bound=BaseModel)

log = structlog.get_logger("kefu.store")
_told: set[tuple[str, str]] = set()


def read_stored(model: type[M], raw: str | bytes | dict[str, Any], what: str, *, editing: bool = False) -> M:
    """`raw` (JSON text or already loaded) as `model`, without fields it does not know.
    Any other problem raises the ValidationError as before. `editing`: the record is about to
    be written back, which would lose those fields, so they are refused (409) instead."""
    data = orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        dropped = unknown_fields(data, exc)
        if not dropped:
            raise
    if editing:
        raise Conflict(
            f"the stored {what} has fields this version of kefu does not know ({', '.join(dropped[:5])}); "
            "edit it on an up-to-date instance",
            code="stored_by_newer_version",
        )
    _tell(what, dropped)
    return model.model_validate(data)


def stored_corpus(raw: str | bytes, shop: str, *, editing: bool = False) -> Corpus:
    """A shop's stored corpus (see read_stored); any other problem as CorpusError lines."""
    data = orjson.loads(raw)
    try:
        return read_stored(Corpus, data, "corpus", editing=editing)
    except ValidationError:
        return parse_corpus(data, source=f"shop {shop}")  # raises, with a line per problem


def unknown_fields(data: Any, exc: ValidationError) -> list[str]:
    """Remove from `data` (in place) every field `exc` calls unknown; the dotted paths removed."""
    dropped = []
    for error in exc.errors():
        if error["type"] != "extra_forbidden":
            continue
        *path, name = error["loc"]
        holder = data
        for part in path:
            holder = holder[part]
        if isinstance(holder, dict) and name in holder:
            del holder[name]
            dropped.append(".".join(str(p) for p in error["loc"]))
    return dropped


def _tell(what: str, dropped: list[str]) -> None:
    # Fields by name without positions ("faqs.3.video" → "faqs.video"): one line per kind.
    names = sorted({".".join(p for p in path.split(".") if not p.isdigit()) for path in dropped})
    new = [name for name in names if (what, name) not in _told]
    if new:
        _told.update((what, name) for name in new)
        log.warning("stored_fields_unknown", record=what, fields=new, hint="written by a newer kefu?")
