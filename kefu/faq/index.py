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

        A query touches only the postings of its own features, gathered in one pass.
        """
        n_docs = len(self.totals)
        if not len(ids):
            return np.zeros(n_docs, dtype=np.float64)
        features = np.asarray(ids, dtype=np.int64)
        starts = self._post_ptr[features]
        lengths = self._post_ptr[features + 1] - starts
        total = int(lengths.sum())
        if not total:
            return np.zeros(n_docs, dtype=np.float64)
        # Positions start[k] .. start[k] + length[k] - 1 for every query feature k, flattened.
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        positions = np.repeat(starts, lengths) + offsets
        values = np.minimum(self._post_weights[positions], np.repeat(np.asarray(weights), lengths))
        matched: Floats = np.bincount(self._post_docs[positions], weights=values, minlength=n_docs).astype(
            np.float64, copy=False
        )
        return matched
