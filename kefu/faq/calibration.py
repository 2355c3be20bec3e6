"""The calibrated decision: P(this FAQ answers the question) from several match signals.

A logistic model over features of each candidate FAQ (lexical similarity per feature family,
coverage of the question, semantic similarity, margins over the runner-up, how much of the
question the corpus knows), fitted on labelled questions of several shops (`kefu faq calibrate`),
so that "answer" means the same confidence in every shop. Two models ship in
`data/calibration.json`: "full" (with the semantic signal) and "lexical" (without it: used when
the encoder is off, and to skip the encoder when the lexical evidence alone is decisive).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "FEATURES",
    "LEXICAL_FEATURES",
    "Calibration",
    "LogisticModel",
    "ModelName",
]

# Per candidate FAQ. The order is the column order of the models' coefficients.
FEATURES: tuple[str, ...] = (
    "lex",  # blended Tversky similarity: best phrasing and the FAQ's pooled profile
    "lex_words",  # best phrasing, word features only
    "lex_bigrams",  # best phrasing, character bigrams only
    "lex_concepts",  # best phrasing, lexicon concepts only
    "coverage",  # share of the question's weight that the FAQ's phrasings cover
    "doc_coverage",  # share of the best phrasing's weight that the question covers
    "answer_coverage",  # share of the question's weight that the FAQ's answer covers
    "said_coverage",  # share of the question's words the FAQ says anywhere (phrasings, answer)
    "uncovered_max",  # weight of the most informative question word the FAQ never says
    "qtype_match",  # 1 when question and FAQ ask the same kind of thing (when, how long, how much…)
    "qtype_conflict",  # 1 when both ask a specific kind of thing and the kinds differ
    "answer_lacks",  # 1 when the question asks for a price, a time or a quantity the answer lacks
    "lex_margin",  # lex minus the best other FAQ's lex
    "lex_first",  # 1 when this FAQ is the lexical first
    "phrasings",  # log(1 + the FAQ's phrasings): a rich entry's similarity says more
    "unknown_share",  # share of the question's weight in words the corpus never uses
    "query_weight",  # log(1 + the question's total weight): how much the question says
    "sem",  # cosine of the question and the FAQ's closest phrasing
    "sem_margin",  # sem minus the best other FAQ's sem
    "sem_first",  # 1 when this FAQ is the semantic first
    "sem_answer",  # cosine of the question and the FAQ's answer
    "agree",  # 1 when this FAQ is first on both signals
)
LEXICAL_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if not f.startswith("sem") and f != "agree")

ModelName = Literal["full", "lexical"]
Floats = npt.NDArray[np.float64]


class LogisticModel(BaseModel):
    """p = sigmoid(intercept + Σ coef·(x − mean)/scale) over `features`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @model_validator(mode="after")
    def _known(self) -> LogisticModel:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"features this version does not compute: {', '.join(unknown)}")
        if not len(self.features) == len(self.mean) == len(self.scale) == len(self.coef):
            raise ValueError("features, mean, scale and coef must have the same length")
        return self

    def columns(self) -> list[int]:
        return [FEATURES.index(f) for f in self.features]

    def predict(self, x: Floats) -> Floats:
        """Probabilities for rows of `x` (columns in FEATURES order)."""
        z = (x[:, self.columns()] - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.coef) + self.intercept
        p: Floats = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        return p


class Calibration(BaseModel):
    """Both models and the thresholds chosen with them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full: LogisticModel
    lexical: LogisticModel
    # Answer when the first candidate's probability reaches this.
    answer: float = Field(ge=0, le=1)
    # Without the encoder, answer from the lexical model only at this (stricter) level.
    answer_lexical: float = Field(ge=0, le=1)
    # Skip the encoder when the lexical model is at least this sure of its first candidate.
    skip_semantic: float = Field(ge=0, le=1)
    # Suggest candidates at least this likely.
    suggest: float = Field(ge=0, le=1)
    # Where the numbers came from (shops, cases), for the record.
    fitted_on: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def default(cls) -> Calibration:
        text = resources.files("kefu.faq").joinpath("data/calibration.json").read_text(encoding="utf-8")
        return cls.model_validate_json(text)

    @classmethod
    def neutral(cls) -> Calibration:
        """Every candidate at p = 0.5: what fitting collects features with."""
        flat = LogisticModel(features=(), mean=(), scale=(), coef=(), intercept=0.0)
        return cls(full=flat, lexical=flat, answer=1.0, answer_lexical=1.0, skip_semantic=1.0, suggest=0.0)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def model(self, name: ModelName) -> LogisticModel:
        return self.full if name == "full" else self.lexical

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=1) + "\n"


def feature_matrix(rows: Sequence[dict[str, float]]) -> Floats:
    """Rows of named features → a matrix in FEATURES order."""
    return np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)
