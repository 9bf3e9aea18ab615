from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.integration.conftest import RedisServer, free_port


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, so stopping it disturbs nothing else."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_healthz_answers_without_services(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_a_stopped_redis(db: Any, client: Client, settings: Any, own_redis: RedisServer) -> None:
    settings.REDIS_URL = own_redis.url
    before = client.get("/readyz").json()
    assert before["checks"]["redis"] == "ok"
    own_redis.stop()
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
    settings.CDSS_QUEUES = (*settings.CDSS_QUEUES, "queue-nobody-consumes")
    body = client.get("/readyz").json()
    assert "workers" in body["failed"]
    assert "queue-nobody-consumes" in body["checks"]["workers"]
