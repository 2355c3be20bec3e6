"""A compact weighted-feature index: documents × features, and the weighted overlap of a query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["FeatureIndex", "Floats", "Ints"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


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

    def overlap(self, ids: Sequence[int], weights: Sequence[float]) -> Floats:
        """Σ min(query weight, document weight) over shared features, for every document.

        A query touches only the postings of its own features.
        """
        matched = np.zeros(len(self.totals), dtype=np.float64)
        ptr, docs, post = self._post_ptr, self._post_docs, self._post_weights
        for feature, weight in zip(ids, weights, strict=True):
            start, end = ptr[feature], ptr[feature + 1]
            if start != end:
                matched[docs[start:end]] += np.minimum(post[start:end], weight)
        return matched
