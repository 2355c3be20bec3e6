"""The calibrated decision: P(this FAQ answers the question) from several match signals.

A model over features of each candidate FAQ (lexical similarity per feature family, coverage of
the question, semantic similarity, margins over the runner-up, how much of the question the
corpus knows), fitted on labelled questions of several shops (`kefu faq calibrate`), so that
"answer" means the same confidence in every shop. Two models ship in `data/calibration.json`:
"full" (with the semantic signal) and "lexical" (without it: used when the encoder is off, and to
skip the encoder when the lexical evidence alone is decisive).

The shipped models are boosted trees (`TreeModel`): the signals interact — a high semantic
similarity means little when the question's rarest word is missing from the FAQ, a modest
lexical score a lot when both signals agree — which one weight per feature cannot express.
Fitting uses scikit-learn; serving only walks the exported trees, all trees and candidates at
once with numpy, so the server never imports scikit-learn.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from kefu.faq.semantic import Adapter

__all__ = [
    "CONFIDENCE_LEVELS",
    "FEATURES",
    "LEXICAL_FEATURES",
    "Calibration",
    "Confidence",
    "LogisticModel",
    "Model",
    "ModelName",
    "TreeModel",
    "level_threshold",
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
    "sem",  # similarity of the question and the FAQ's closest phrasing (through the adapter)
    "sem_margin",  # sem minus the best other FAQ's sem
    "sem_first",  # 1 when this FAQ is the semantic first
    "sem_answer",  # similarity of the question and the FAQ's answer's opening (through the adapter)
    "sem_passage",  # similarity of the question and the closest sentence of the FAQ's answer
    "sem_passage_margin",  # sem_passage minus the best other FAQ's
    "agree",  # 1 when this FAQ is first on both signals
)
LEXICAL_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if not f.startswith("sem") and f != "agree")

ModelName = Literal["full", "lexical"]

# How sure the bot must be to answer rather than suggest, as a shop chooses it. The calibrated
# probability means the same in every shop (README, "Reliability": leave one shop out, the
# FAQs given 0.9–1.0 were right 97 % of the time, 0.6–0.8 72 %), so a level is a probability:
# "cautious" answers at ≥ 0.90 only, "balanced" where the calibration puts it (its `answer`, now 0.80:
# the most answers with ≤ 2.5 % wrong on shops it never saw), "bold" from 0.65. Never looser than the
# calibration for cautious, never stricter for bold.
Confidence = Literal["cautious", "balanced", "bold"]
CONFIDENCE_LEVELS: tuple[Confidence, ...] = get_args(Confidence)
_LEVELS: dict[Confidence, float] = {"cautious": 0.90, "bold": 0.65}


def level_threshold(level: Confidence, calibrated: float) -> float:
    """The answer threshold of `level`, given the calibration's own (`calibrated`)."""
    if level == "cautious":
        return max(calibrated, _LEVELS["cautious"])
    if level == "bold":
        return min(calibrated, _LEVELS["bold"])
    return calibrated


Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


def _known(features: Sequence[str]) -> None:
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"features this version does not compute: {', '.join(unknown)}")


def _sigmoid(logits: Floats) -> Floats:
    p: Floats = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
    return p


class LogisticModel(BaseModel):
    """p = sigmoid(intercept + Σ coef·(x − mean)/scale) over `features`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @model_validator(mode="after")
    def _check(self) -> LogisticModel:
        _known(self.features)
        if not len(self.features) == len(self.mean) == len(self.scale) == len(self.coef):
            raise ValueError("features, mean, scale and coef must have the same length")
        return self

    def columns(self) -> list[int]:
        return [FEATURES.index(f) for f in self.features]

    def predict(self, x: Floats) -> Floats:
        """Probabilities for rows of `x` (columns in FEATURES order)."""
        z = (x[:, self.columns()] - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.coef) + self.intercept)


class TreeModel(BaseModel):
    """p = sigmoid(base + Σ tree(x)) over `features`: boosted regression trees on log-odds.

    Every tree is stored as parallel node arrays of the same length (padded): `feature` (index
    into `features`) and `threshold` — a row goes to `left` when its value is ≤ the threshold,
    else to `right` — and `value`, the leaf's contribution. A leaf points to itself on both
    sides, so walking `depth` steps from the root lands every row on its leaf.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    base: float
    depth: int = Field(ge=1, le=16)
    feature: tuple[tuple[int, ...], ...]
    threshold: tuple[tuple[float, ...], ...]
    left: tuple[tuple[int, ...], ...]
    right: tuple[tuple[int, ...], ...]
    value: tuple[tuple[float, ...], ...]
    _arrays: tuple[Ints, Floats, Ints, Floats, Ints] = PrivateAttr()

    @model_validator(mode="after")
    def _check(self) -> TreeModel:
        _known(self.features)
        shapes = {np.shape(a) for a in (self.feature, self.threshold, self.left, self.right, self.value)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError("feature, threshold, left, right and value must be arrays of one shape")
        nodes = len(self.feature[0]) if self.feature else 0
        feature = np.asarray(self.feature, dtype=np.intp).reshape(len(self.feature), nodes)
        left = np.asarray(self.left, dtype=np.intp).reshape(feature.shape)
        right = np.asarray(self.right, dtype=np.intp).reshape(feature.shape)
        if feature.size and (feature.min() < 0 or feature.max() >= len(self.features)):
            raise ValueError("a tree splits on a feature it does not name")
        if left.size and (min(left.min(), right.min()) < 0 or max(left.max(), right.max()) >= nodes):
            raise ValueError("a tree points outside itself")
        # Flat arrays indexed by tree * nodes + node; columns of FEATURES, so rows in FEATURES
        # order are read directly.
        # `children[2 * id]` is a node's left child, `children[2 * id + 1]` its right one.
        offsets = (np.arange(feature.shape[0], dtype=np.intp) * nodes)[None, :]
        children = np.stack([(left + offsets.T).ravel(), (right + offsets.T).ravel()], axis=1).ravel()
        self._arrays = (
            np.asarray([FEATURES.index(f) for f in self.features], dtype=np.intp)[feature].ravel(),
            np.asarray(self.threshold, dtype=np.float64).ravel(),
            children,
            np.asarray(self.value, dtype=np.float64).ravel(),
            offsets,
        )
        for array in self._arrays:
            array.flags.writeable = False  # shared by every matcher of the process
        return self

    def __eq__(self, other: object) -> bool:
        # The derived arrays are the same when the fields are.
        return isinstance(other, TreeModel) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def predict(self, x: Floats) -> Floats:
        """Probabilities for rows of `x` (columns in FEATURES order)."""
        column, threshold, children, value, offsets = self._arrays
        rows = x.shape[0]
        if offsets.size == 0:
            return _sigmoid(np.full(rows, self.base))
        # Every row walks every tree at once: `node` holds flat node ids, one per (row, tree).
        node = np.repeat(offsets, rows, axis=0)
        cells = np.ascontiguousarray(x, dtype=np.float64).ravel()
        base = (np.arange(rows, dtype=np.intp) * x.shape[1])[:, None]
        for _ in range(self.depth):
            go_right = cells[base + column[node]] > threshold[node]
            node = children[2 * node + go_right]
        return _sigmoid(self.base + value[node].sum(axis=1))


Model = Annotated[LogisticModel | TreeModel, Field(union_mode="left_to_right")]


class Calibration(BaseModel):
    """Both models and the thresholds chosen with them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full: Model
    lexical: Model
    # Answer when the first candidate's probability reaches this.
    answer: float = Field(ge=0, le=1)
    # Without the encoder, answer from the lexical model only at this (stricter) level.
    answer_lexical: float = Field(ge=0, le=1)
    # Skip the encoder when the lexical model is at least this sure of its first candidate.
    skip_semantic: float = Field(ge=0, le=1)
    # Suggest candidates at least this likely.
    suggest: float = Field(ge=0, le=1)
    # The map of FAQ-side encoder vectors the "full" model was fitted with (None: plain cosines).
    adapter: Adapter | None = None
    # Where the numbers came from (shops, cases), for the record.
    fitted_on: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_adapter(self) -> Calibration:
        # The trees learned what the adapted similarity is worth: they are only right with it.
        fitted = self.fitted_on.get("adapter")
        if fitted is not None and (self.adapter is None or self.adapter.digest() != fitted):
            raise ValueError("the calibration was fitted with another adapter than the one it carries")
        return self

    @classmethod
    @functools.cache
    def default(cls) -> Calibration:
        """The shipped calibration, read once per process and shared by every matcher (it is
        immutable; validating its trees costs ≈ 30 ms, too much to repeat per corpus build)."""
        text = resources.files("kefu.faq").joinpath("data/calibration.json").read_text(encoding="utf-8")
        return cls.model_validate_json(text)

    @classmethod
    def neutral(cls, adapter: Adapter | None = None) -> Calibration:
        """Every candidate at p = 0.5: what fitting collects features with (through `adapter`)."""
        flat = LogisticModel(features=(), mean=(), scale=(), coef=(), intercept=0.0)
        return cls(
            full=flat,
            lexical=flat,
            answer=1.0,
            answer_lexical=1.0,
            skip_semantic=1.0,
            suggest=0.0,
            adapter=adapter,
        )

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def model(self, name: ModelName) -> LogisticModel | TreeModel:
        return self.full if name == "full" else self.lexical

    def dump(self) -> str:
        # One line per model: the trees are thousands of numbers nobody reads one by one.
        data = self.model_dump(mode="json")
        lines = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items()]
        return "{\n" + ",\n".join(lines) + "\n}\n"


def feature_matrix(rows: Sequence[dict[str, float]]) -> Floats:
    """Rows of named features → a matrix in FEATURES order."""
    return np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)
