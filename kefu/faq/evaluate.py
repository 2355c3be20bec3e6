"""Labelled evaluation of a matcher: accuracy, recall@3, wrong answers, transfers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from kefu.errors import KefuError
from kefu.faq.matcher import Decision, Matcher, MatchResult

__all__ = ["Case", "EvalReport", "Miss", "evaluate", "load_cases"]

TRANSFER = "@transfer"


def _as_tuple(value: object) -> object:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


class Case(BaseModel):
    """One labelled shopper question. `expect` is FAQ ids (any is right), () for out of scope,
    or ("@transfer",) for a request to talk to a human."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str
    expect: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]

    @property
    def kind(self) -> str:
        if not self.expect:
            return "out_of_scope"
        return "transfer" if self.expect == (TRANSFER,) else "in_scope"


class Miss(BaseModel):
    q: str
    expect: tuple[str, ...]
    decision: Decision
    faq_id: str | None
    suggestions: list[str]
    score: float
    margin: float


class EvalReport(BaseModel):
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
    misses: list[Miss]

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


def evaluate(matcher: Matcher, cases: Iterable[Case]) -> EvalReport:
    cases = list(cases)
    counts = {"in_scope": 0, "out_of_scope": 0, "transfer": 0}
    correct = recalled = wrong = oos_answered = transferred = false_transfers = 0
    misses: list[Miss] = []
    for case in cases:
        result = matcher.match(case.q)
        kind = case.kind
        counts[kind] += 1
        is_transfer = result.decision == Decision.TRANSFER
        if kind != "transfer" and is_transfer:
            false_transfers += 1
        ok: bool
        if kind == "transfer":
            ok = is_transfer
            transferred += ok
        elif kind == "out_of_scope":
            ok = result.decision != Decision.ANSWER and not is_transfer
            oos_answered += result.decision == Decision.ANSWER
        else:
            answered = result.decision == Decision.ANSWER
            ok = answered and result.faq_id in case.expect
            correct += ok
            wrong += answered and not ok
            shown = {result.faq_id} | {s.faq_id for s in result.suggestions[:3]}
            recalled += bool(shown & set(case.expect))
        if not ok:
            misses.append(_missed(case, result))

    def rate(n: int, d: int) -> float:
        return n / d if d else 0.0

    return EvalReport(
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
        misses=misses,
    )
