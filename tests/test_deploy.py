"""docker-compose.yml and the Dockerfile, checked as far as a machine without Docker can."""

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kefu.settings import Settings

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict) -> None:  # type: ignore[type-arg]
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_top_level_keys_are_ones_every_compose_accepts(compose: dict) -> None:  # type: ignore[type-arg]
    # Compose v1 (still Debian's docker-compose) rejects v2-only keys such as `name:`.
    top = {k for k in compose if not k.startswith("x-")}
    assert top <= {"services", "volumes", "networks", "configs", "secrets"}, top


def test_two_kefu_replicas_share_redis_behind_the_load_balancer(
    compose: dict, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[type-arg]
    services = compose["services"]
    replicas = [name for name, svc in services.items() if svc.get("command", [""])[0] == "kefu"]
    assert len(replicas) == 2
    ids = set()
    for name in replicas:
        svc = services[name]
        assert svc["build"] == "."
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        env = svc["environment"]
        assert env["KEFU_REDIS_URL"].startswith("redis://redis:")
        # The environment is what the real settings accept.
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = Settings()
        assert settings.redis_url == env["KEFU_REDIS_URL"]
        ids.add(settings.instance_id)
        assert (
            subprocess.run(
                [sys.executable, "-m", "kefu", *svc["command"][1:], "--help"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
    assert len(ids) == 2
    lb = services["lb"]
    assert set(lb["depends_on"]) == set(replicas)
    # The replicas believe X-Forwarded-For from nginx only: each shopper is their own client
    # to the limits, and nobody can name another address past nginx.
    nginx = lb["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx) in ipaddress.ip_network(subnet)
    assert settings.forwarded_allow_ips == (nginx,)
    mount = next(v for v in lb["volumes"] if "nginx" in v).split(":")[0]
    conf = (ROOT / mount).read_text(encoding="utf-8")
    upstream = re.search(r"upstream kefu \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert {f"{name}:8080" for name in replicas} <= set(re.findall(r"server (\S+)", upstream.group(1)))
    assert "proxy_set_header Upgrade $http_upgrade" in conf


def test_dockerfile_installs_kefu_and_serves(compose: dict) -> None:  # type: ignore[type-arg]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert 'CMD ["kefu", "serve"]' in dockerfile
    assert "EXPOSE 8080" in dockerfile and "KEFU_HOST=0.0.0.0" in dockerfile
    assert "USER kefu" in dockerfile  # not root


def test_dockerfile_copies_what_the_package_build_reads() -> None:
    """`pip install .` in the image reads the files pyproject.toml names (the readme, the
    licence): each must be copied in before it runs, or the image does not build."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {path for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M) for path in source.split()}
    needed = {project["readme"], *project.get("license-files", [])}
    assert needed <= copied, needed - copied
