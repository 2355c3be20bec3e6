"""Shared fixtures: a private redis-server, data paths, the (expensive, shared) FAQ resources."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from redis.asyncio import Redis

from kefu.faq import Corpus, Matcher, Resources, default_corpus, load_corpus
from kefu.redisserver import RedisServer, free_port
from kefu.store.client import connect
from tests.redis_cluster import LocalCluster

DATA = Path(__file__).parent / "data"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that sets `REDIS_BACKENDS = ("single", "cluster")` runs each of its tests on one
    redis-server and again on a three-master Redis Cluster; every other module on the first only."""
    backends = getattr(metafunc.module, "REDIS_BACKENDS", None)
    if backends and "redis_server" in metafunc.fixturenames:
        metafunc.parametrize("redis_server", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def single_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run, on a free port (never the machine's own Redis)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port(), appendonly=False)
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three real cluster masters, started only if a test asks for them."""
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> RedisServer:
    """What the tests point kefu at; `.url` is all the server code sees of it."""
    if getattr(request, "param", "single") == "cluster":
        # A cluster stands in for a server here: the tests that take it only read `.url`.
        return cast(RedisServer, request.getfixturevalue("redis_cluster"))
    return cast(RedisServer, request.getfixturevalue("single_redis"))


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client on a clean database (every primary, on a cluster): each test starts empty."""
    client = connect(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def resources() -> Resources:
    return Resources.default()


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return default_corpus()


@pytest.fixture(scope="session")
def matcher(corpus: Corpus, resources: Resources) -> Matcher:
    return Matcher.from_corpus(corpus, resources=resources)


@pytest.fixture(scope="session")
def shop2_corpus() -> Corpus:
    return load_corpus(DATA / "shop2_corpus.yaml")


@pytest.fixture(scope="session")
def shop2_matcher(shop2_corpus: Corpus, resources: Resources) -> Matcher:
    return Matcher.from_corpus(shop2_corpus, resources=resources)


@contextlib.contextmanager
def counting_encoder(resources: Resources) -> Iterator[list[str]]:
    """Every corpus text the shared encoder is asked to encode while the block runs."""
    encoder = resources.encoder()
    encoded: list[str] = []
    real = encoder.encode_uncached

    def counting(texts: Sequence[str]) -> np.ndarray:
        encoded.extend(texts)
        return real(texts)

    encoder.encode_uncached = counting  # type: ignore[method-assign]
    try:
        yield encoded
    finally:
        del encoder.encode_uncached
