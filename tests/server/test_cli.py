"""The shop and account commands as a new owner runs them: `kefu shop add/list/show`,
`kefu user add`, and one readable line when Redis is not there."""

import io
import socket

import pytest
import redis as sync_redis

from kefu.cli import main
from kefu.redisserver import RedisServer


@pytest.fixture
def empty_redis(single_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    client = sync_redis.Redis.from_url(single_redis.url)
    client.flushall()
    client.close()
    monkeypatch.setenv("KEFU_REDIS_URL", single_redis.url)
    return single_redis


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_shop_add_list_show(empty_redis: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "shop", "list")
    assert code == 0 and "no shops yet" in out

    code, out, _ = run(capsys, "shop", "add", "tea", "--name", "茶铺", "--default-faq")
    assert code == 0 and "created shop tea (茶铺)" in out
    code, _, err = run(capsys, "shop", "add", "tea")
    assert code == 1 and "already exists" in err and "Traceback" not in err

    code, _, _ = run(
        capsys, "user", "add", "tea", "xiaowang", "--role", "agent", "--name", "小王", stdin="secret-pass\n"
    )
    assert code == 0

    code, out, _ = run(capsys, "shop", "list")
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("tea")]
    assert "茶铺" in row and "1 accounts" in row and " 0 FAQs" not in row

    code, out, _ = run(capsys, "shop", "show", "tea")
    assert code == 0
    assert "茶铺" in out and "xiaowang" in out and "小王" in out and "general" in out


def test_user_add_refuses_a_shop_or_group_that_does_not_exist(
    empty_redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "user", "add", "shop2", "amy", "--role", "admin", stdin="secret-pass\n")
    assert code == 1
    assert "no shop 'shop2'" in err and "kefu shop add shop2" in err
    # Nothing was created on the way: the shop is still unknown.
    code, out, _ = run(capsys, "shop", "list")
    assert "no shops yet" in out

    run(capsys, "shop", "add", "shop2")
    code, _, err = run(
        capsys, "user", "add", "shop2", "amy", "--role", "agent", "--groups", "presale", stdin="secret-pass\n"
    )
    assert code == 1 and "no group presale" in err
    code, _, err = run(capsys, "shop", "show", "nope")
    assert code == 1 and "no shop 'nope'" in err


def test_invalid_shop_id_is_one_line(empty_redis: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "shop", "add", "Shop Two")
    assert code == 1 and "invalid shop id" in err and len(err.strip().splitlines()) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "argv",
    [
        ("shop", "list"),
        ("user", "add", "demo", "amy", "--role", "admin"),
        ("qa", "report", "--shop", "demo", "--since", "2026-11-01"),
    ],
)
def test_unreachable_redis_is_one_line(
    argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{_closed_port()}/0"
    monkeypatch.setenv("KEFU_REDIS_URL", url)
    code, _, err = run(capsys, *argv, stdin="secret-pass\n")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kefu: ") and "Redis" in lines[0], err
    assert "hunter2" not in err  # the password in the URL is not printed


@pytest.mark.parametrize(
    "argv", [("serve",), ("shop", "list"), ("qa", "report", "--shop", "demo", "--since", "2026-11-01")]
)
def test_invalid_settings_are_one_line_naming_each_variable_and_no_secret(
    argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEFU_PORT", "eighty")
    monkeypatch.setenv("KEFU_SECRET_KEY", "hunter2-too-short")
    monkeypatch.setenv("KEFU_FORWARDED_ALLOW_IPS", "10.0.0.300")
    code, _, err = run(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kefu: invalid settings: "), err
    for name in ("KEFU_PORT", "KEFU_SECRET_KEY", "KEFU_FORWARDED_ALLOW_IPS"):
        assert name in lines[0], err
    assert "10.0.0.300" in lines[0]  # what is wrong with the proxy list
    assert "hunter2" not in err  # a secret's value is never printed


@pytest.mark.parametrize(
    ("env", "argv", "named", "says"),
    [
        ({"KEFU_LOG_LEVEL": "loud"}, ("serve",), "KEFU_LOG_LEVEL", "'WARNING'"),
        ({"KEFU_REDIS_URL": "http://:hunter2@localhost/"}, ("shop", "list"), "KEFU_REDIS_URL", "scheme"),
        (
            {"KEFU_REDIS_URL": "redis://:hunter2@localhost:99999/0"},
            ("shop", "list"),
            "KEFU_REDIS_URL",
            "port",
        ),
        ({}, ("serve", "--port", "70000"), "KEFU_PORT", "65535"),
        ({}, ("serve", "--workers", "100"), "KEFU_WORKERS", "64"),
    ],
    ids=["log-level", "redis-scheme", "redis-port", "port-flag", "workers-flag"],
)
def test_settings_checked_before_anything_starts_flags_too(
    env: dict[str, str],
    argv: tuple[str, ...],
    named: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and says in lines[0], err
    assert "hunter2" not in err
