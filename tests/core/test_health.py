from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of this test's own, so stopping it disturbs nothing else."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (scripts/bootstrap.sh installs it)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.RedisError:
            time.sleep(0.05)
    yield url, process
    process.terminate()
    process.wait()


def test_healthz_answers_without_services(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_a_stopped_redis(db: Any, client: Client, settings: Any, own_redis: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = own_redis
    settings.REDIS_URL = url
    before = client.get("/readyz").json()
    assert before["checks"]["redis"] == "ok"
    process.terminate()
    process.wait()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "redis" in body["failed"]
    assert body["checks"]["redis"].startswith("redis unreachable")
    assert body["checks"]["database"] == "ok"


def test_readyz_names_an_unreachable_pacs(db: Any, client: Client, settings: Any) -> None:
    settings.DICOMWEB_URL = f"http://127.0.0.1:{free_port()}/dicom-web"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "pacs" in response.json()["failed"]


def test_readyz_reports_missing_workers(db: Any, client: Client, settings: Any) -> None:
    settings.CDSS_QUEUES = ("default", "gpu", "queue-nobody-consumes")
    body = client.get("/readyz").json()
    assert "workers" in body["failed"]
    assert "queue-nobody-consumes" in body["checks"]["workers"]
