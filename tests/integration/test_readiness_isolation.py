"""The suite and a running demo keep apart, and /readyz names a worker on another database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from cdss.core.worker_identity import database_identity
from tests.integration.conftest import WorkerProcess

pytestmark = pytest.mark.integration


def test_the_test_profile_has_its_own_redis_queues_and_channels() -> None:
    from cdss.settings import base

    assert settings.CDSS_QUEUES == ("default-test", "gpu-test")
    assert not set(settings.CDSS_QUEUES) & set(base.CDSS_QUEUES)
    assert settings.CELERY_TASK_DEFAULT_QUEUE in settings.CDSS_QUEUES
    beat: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    assert all(entry["options"]["queue"] in settings.CDSS_QUEUES for entry in beat.values())
    base_layers: dict[str, Any] = base.CHANNEL_LAYERS
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    assert layers["default"]["CONFIG"]["prefix"] != base_layers["default"]["CONFIG"].get("prefix", "asgi")
    if base.REDIS_URL.endswith(("/0", ":6379")):  # the demo's default database
        assert settings.REDIS_URL != base.REDIS_URL


def test_readyz_names_a_worker_on_another_database(transactional_db: Any, tmp_path: Path) -> None:
    other = tmp_path / "another.sqlite3"
    # REDIS_URL given: start() does not wait for the queues (the probe refuses this worker).
    worker = WorkerProcess(tmp_path / "worker.log", DATABASE_URL=f"sqlite:///{other}", REDIS_URL=settings.REDIS_URL)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = Client().get("/readyz").json()
            if "another database" in str(body["checks"].get("workers")):
                break
            time.sleep(1)
        assert "workers" in body["failed"], body
        assert "another database" in body["checks"]["workers"], body
    finally:
        worker.stop()


def test_the_identity_names_this_database() -> None:
    assert database_identity() == database_identity()
    assert len(database_identity()) == 16
