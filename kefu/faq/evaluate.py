"""Labelled evaluation of a matcher: accuracy, recall@3, wrong answers, transfers — per shop and
as a macro mean over several shops."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from kefu.errors import KefuError
from kefu.faq.corpus import Corpus, default_corpus, load_corpus
from kefu.faq.matcher import Decision, Matcher, MatchResult

__all__ = [
    "Case",
    "EvalReport",
    "Miss",
    "ShopSet",
    "evaluate",
    "load_cases",
    "load_manifest",
    "macro_mean",
    "reliability",
]

TRANSFER = "@transfer"


def _as_tuple(value: object) -> object:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


class Case(BaseModel):
    """One labelled shopper question. `expect` is FAQ ids (any is right), () for out of scope,
    ("@transfer",) for a request to talk to a human; a list holding both ids and None means
    "that FAQ, or no answer at all, is fine"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str
    expect: Annotated[tuple[str | None, ...], BeforeValidator(_as_tuple)]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e for e in self.expect if e is not None)

    @property
    def abstain_ok(self) -> bool:
        """Not answering is acceptable (a borderline question labelled [id, null])."""
        return None in self.expect

    @property
    def kind(self) -> str:
        if not self.ids:
            return "out_of_scope"
        return "transfer" if self.ids == (TRANSFER,) else "in_scope"


class Miss(BaseModel):
    q: str
    expect: tuple[str | None, ...]
    decision: Decision
    faq_id: str | None
    suggestions: list[str]
    score: float
    margin: float


class EvalReport(BaseModel):
    name: str = ""
    cases: int
    in_scope: int
    out_of_scope: int
    transfers: int
    answer_accuracy: float
    recall_at_3: float
    wrong_answer_rate: float
    out_of_scope_answered_rate: float
    transfer_recall: float
    false_transfers: int
    # Share of questions for which the sentence encoder ran.
    semantic_share: float = 0.0
    misses: list[Miss] = Field(default_factory=list)
    # (calibrated probability of the first candidate, whether answering it would have been right)
    # for every in-scope and out-of-scope case: the input of the reliability table.
    confidence: list[tuple[float, bool]] = Field(default_factory=list, exclude=True)

    def summary(self) -> str:
        return "\n".join(
            [
                f"cases                    {self.cases} ({self.in_scope} in scope, "
                f"{self.out_of_scope} out of scope, {self.transfers} transfer requests)",
                f"answer accuracy          {self.answer_accuracy:6.1%}",
                f"recall@3                 {self.recall_at_3:6.1%}",
                f"in-scope wrong answers   {self.wrong_answer_rate:6.1%}",
                f"out-of-scope answered    {self.out_of_scope_answered_rate:6.1%}",
                f"transfer recall          {self.transfer_recall:6.1%}",
                f"false transfers          {self.false_transfers}",
            ]
        )


def load_cases(path: str | Path) -> list[Case]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KefuError(f"{path}: cannot read: {exc}") from None
    cases = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(Case.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            raise KefuError(f"{path}:{number}: not a case: {exc}") from None
    return cases


def _missed(case: Case, result: MatchResult) -> Miss:
    return Miss(
        q=case.q,
        expect=case.expect,
        decision=result.decision,
        faq_id=result.faq_id,
        suggestions=[s.faq_id for s in result.suggestions],
        score=result.score,
        margin=result.margin,
    )


def evaluate(matcher: Matcher, cases: Iterable[Case], *, name: str = "") -> EvalReport:
    cases = list(cases)
    counts = {"in_scope": 0, "out_of_scope": 0, "transfer": 0}
    correct = recalled = wrong = oos_answered = transferred = false_transfers = semantic = 0
    misses: list[Miss] = []
    confidence: list[tuple[float, bool]] = []
    for case in cases:
        result = matcher.match(case.q)
        semantic += result.semantic
        kind = case.kind
        counts[kind] += 1
        is_transfer = result.decision == Decision.TRANSFER
        if kind != "transfer" and is_transfer:
            false_transfers += 1
        answered = result.decision == Decision.ANSWER
        ok: bool
        if kind == "transfer":
            ok = is_transfer
            transferred += ok
        elif kind == "out_of_scope":
            ok = not answered and not is_transfer
            oos_answered += answered
        else:
            right = answered and result.faq_id in case.ids
            ok = right or (case.abstain_ok and not answered and not is_transfer)
            correct += ok
            wrong += answered and not right
            shown = {result.faq_id} | {s.faq_id for s in result.suggestions[:3]}
            recalled += ok or bool(shown & set(case.ids))
        if kind != "transfer" and not is_transfer and result.decision != Decision.GREETING:
            confidence.append((result.score, result.best_faq_id in case.ids))
        if not ok:
            misses.append(_missed(case, result))

    def rate(n: int, d: int) -> float:
        return n / d if d else 0.0

    return EvalReport(
        name=name,
        cases=len(cases),
        in_scope=counts["in_scope"],
        out_of_scope=counts["out_of_scope"],
        transfers=counts["transfer"],
        answer_accuracy=rate(correct, counts["in_scope"]),
        recall_at_3=rate(recalled, counts["in_scope"]),
        wrong_answer_rate=rate(wrong, counts["in_scope"]),
        out_of_scope_answered_rate=rate(oos_answered, counts["out_of_scope"]),
        transfer_recall=rate(transferred, counts["transfer"]),
        false_transfers=false_transfers,
        semantic_share=rate(semantic, len(cases)),
        misses=misses,
        confidence=confidence,
    )


_RATES = (
    "answer_accuracy",
    "recall_at_3",
    "wrong_answer_rate",
    "out_of_scope_answered_rate",
    "transfer_recall",
    "semantic_share",
)


def macro_mean(reports: Sequence[EvalReport]) -> EvalReport:
    """The unweighted mean over shops (each shop counts the same, whatever its size)."""
    n = max(len(reports), 1)
    rates: dict[str, Any] = {k: sum(getattr(r, k) for r in reports) / n for k in _RATES}
    return EvalReport(
        name="macro mean",
        cases=sum(r.cases for r in reports),
        in_scope=sum(r.in_scope for r in reports),
        out_of_scope=sum(r.out_of_scope for r in reports),
        transfers=sum(r.transfers for r in reports),
        false_transfers=sum(r.false_transfers for r in reports),
        confidence=[c for r in reports for c in r.confidence],
        **rates,
    )


def table(reports: Sequence[EvalReport]) -> str:
    """One row per shop and the macro mean, as a Markdown table."""
    head = (
        "| shop | cases | answer acc | recall@3 | in-scope wrong | out-of-scope answered "
        "| transfer recall | false transfers | encoder ran |\n|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    everything = [*reports, macro_mean(reports)] if len(reports) > 1 else list(reports)
    for r in everything:
        rows.append(
            f"| {r.name} | {r.cases} | {r.answer_accuracy:.1%} | {r.recall_at_3:.1%} | "
            f"{r.wrong_answer_rate:.1%} | {r.out_of_scope_answered_rate:.1%} | {r.transfer_recall:.1%} | "
            f"{r.false_transfers} | {r.semantic_share:.0%} |"
        )
    return "\n".join(rows)


def reliability(
    pairs: Sequence[tuple[float, bool]], bins: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 0.9)
) -> str:
    """Predicted confidence of the first candidate vs how often it was right, as a Markdown table."""
    edges = [0.0, *bins, 1.0001]
    rows = ["| confidence | questions | mean predicted | observed right |", "|---|---|---|---|"]
    for lo, hi in zip(edges, edges[1:], strict=False):
        inside = [(p, ok) for p, ok in pairs if lo <= p < hi]
        if not inside:
            continue
        mean = sum(p for p, _ in inside) / len(inside)
        right = sum(ok for _, ok in inside) / len(inside)
        rows.append(f"| {lo:.1f}–{min(hi, 1.0):.1f} | {len(inside)} | {mean:.2f} | {right:.2f} |")
    return "\n".join(rows)


class ShopSet(BaseModel):
    """One shop of a manifest: a corpus and its labelled questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    corpus: Path | None = None  # None: kefu's default corpus
    cases: Path
    # "dev": used to fit the calibration; "holdout": never fitted on, only measured.
    role: str = "dev"
    # Fitting also sees this shop's questions against a sparse copy of its corpus (1–2
    # phrasings per entry), so the model learns what a rich corpus's similarity is worth.
    sparse_copy: bool = False
    note: str = ""

    def load_corpus(self) -> Corpus:
        return load_corpus(self.corpus) if self.corpus else default_corpus()


def load_manifest(path: str | Path) -> list[ShopSet]:
    """A YAML list of shops; relative paths are relative to the manifest."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KefuError(f"{path}: cannot read the manifest: {exc}") from None
    shops = []
    for entry in raw.get("shops", []) if isinstance(raw, dict) else []:
        try:
            shop = ShopSet.model_validate(entry)
        except ValidationError as exc:
            raise KefuError(f"{path}: not a shop entry: {exc}") from None
        base = path.parent
        shops.append(
            shop.model_copy(
                update={"corpus": base / shop.corpus if shop.corpus else None, "cases": base / shop.cases}
            )
        )
    return shops
