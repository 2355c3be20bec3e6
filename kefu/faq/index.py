"""A compact weighted-feature index with Tversky similarity, for phrasings and FAQ profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureIndex", "Query", "Weights"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Weights:
    """How the two sides' leftovers count against a match (Tversky's alpha and beta)."""

    alpha: float  # the document's features the query lacks
    beta_known: float  # query features other documents use
    beta_unknown: float  # query words no document uses
    long_query_features: float  # beyond this many query features, leftovers count proportionally less


@dataclass(frozen=True, slots=True)
class Query:
    """A query as feature ids and weights, plus the weight of words the index does not know."""

    ids: Ints
    weights: Floats
    unknown: float

    @property
    def size(self) -> int:
        return len(self.ids) + (1 if self.unknown else 0)


class FeatureIndex:
    """Documents (rows) × features (columns), held both row-wise (CSR) and column-wise (postings).

    Built once, never changed; arrays only, so 100k documents cost a few MiB.
    """

    def __init__(self, documents: Sequence[Mapping[int, float]], n_features: int) -> None:
        lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
        self.indptr = np.zeros(len(documents) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.indptr[1:])
        nnz = int(self.indptr[-1])
        self.indices = np.fromiter((f for d in documents for f in d), dtype=np.int64, count=nnz)
        self.data = np.fromiter((w for d in documents for w in d.values()), dtype=np.float64, count=nnz)
        rows = np.repeat(np.arange(len(documents), dtype=np.int64), lengths)
        order = np.argsort(self.indices, kind="stable")
        self._post_docs = rows[order]
        self._post_weights = self.data[order]
        self._post_ptr = np.zeros(n_features + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=n_features), out=self._post_ptr[1:])
        self.totals = np.zeros(len(documents), dtype=np.float64)
        np.add.at(self.totals, rows, self.data)

    def __len__(self) -> int:
        return len(self.totals)

    def row(self, doc: int) -> dict[int, float]:
        start, end = self.indptr[doc], self.indptr[doc + 1]
        return dict(zip(self.indices[start:end].tolist(), self.data[start:end].tolist(), strict=True))

    def similarity(self, query: Query, w: Weights) -> tuple[Ints, Floats]:
        """Tversky similarity of the query to every document sharing a feature with it.

        matched = Σ min(query, document) over shared features; the document's unmatched weight
        counts alpha, the query's counts beta (less for words nobody uses, less again in long
        messages where context words are expected).
        """
        matched = np.zeros(len(self.totals), dtype=np.float64)
        for feature, weight in zip(query.ids.tolist(), query.weights.tolist(), strict=True):
            start, end = self._post_ptr[feature], self._post_ptr[feature + 1]
            if start != end:
                matched[self._post_docs[start:end]] += np.minimum(self._post_weights[start:end], weight)
        docs = np.flatnonzero(matched)
        m = matched[docs]
        scale = min(1.0, w.long_query_features / max(1, query.size))
        extra = scale * (w.beta_known * (float(query.weights.sum()) - m) + w.beta_unknown * query.unknown)
        return docs, m / (m + w.alpha * (self.totals[docs] - m) + extra)
