from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.integration.conftest import WorkerProcess

pytestmark = pytest.mark.integration


def test_readyz_green_with_all_services_and_a_worker(celery_worker_process: WorkerProcess, client: Client) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": "ok", "redis": "ok", "pacs": "ok", "workers": "ok"}


def test_readyz_names_queue_without_worker(transactional_db: Any, client: Client) -> None:
    # No worker fixture here: whatever else runs, a queue nobody serves is reported by name.
    from django.test import override_settings

    with override_settings(CDSS_QUEUES=("default", "gpu", "nobody-serves-this")):
        body = client.get("/readyz").json()
    assert "workers" in body["failed"]
