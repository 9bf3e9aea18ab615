"""PostgreSQL away for 30 s mid-request: the API answers 503 with a code, tasks retry, the
request completes afterwards with exactly one report, and nothing half-written remains."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from inference.models import AnalysisRequest, AnalysisStatus, AnalysisStep, Report, StepStatus
from tests.conftest import World, world_build
from tests.integration.conftest import ROOT, WorkerProcess, free_port, worker_env
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OUTAGE_S = 30


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


def test_database_outage(tworld: World, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs this against PostgreSQL")
        pytest.skip("needs PostgreSQL; CI runs it")
    db = connection.settings_dict
    proxy = TcpProxy(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))
    proxy.up()
    proxied_url = f"postgres://{db.get('USER') or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}"
    worker = WorkerProcess(tmp_path / "worker.log", DATABASE_URL=proxied_url)
    port = free_port()
    with open(tmp_path / "web.log", "ab") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "cdss.asgi:application"],
            cwd=ROOT, env=worker_env(DATABASE_URL=proxied_url), stdout=log, stderr=subprocess.STDOUT,
        )
    token = Token.objects.create(user=tworld.clinician).key
    api = requests.Session()
    api.headers.update({"Authorization": f"Token {token}", "Host": "localhost"})
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        worker.start()
        for _ in range(100):
            try:
                api.get(f"{base}/auth/me/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        created = api.post(f"{base}/analyses/", json={"patient": tworld.patient.pk, "models": ["noop"],
                                                      "idempotency_key": "db-outage", "options": {"noop_sleep_s": 5}}, timeout=10)
        assert created.status_code == 201, created.text
        analysis_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while not AnalysisStep.objects.filter(request_id=analysis_id, kind="imaging", status=StepStatus.RUNNING).exists():
            assert time.monotonic() < deadline, worker.log_text()[-2000:]
            time.sleep(0.2)

        proxy.down()
        outage_end = time.monotonic() + OUTAGE_S
        answer = api.get(f"{base}/analyses/{analysis_id}/", timeout=30)
        assert answer.status_code == 503, answer.text[:500]
        assert answer.json()["code"] == "database_unavailable"
        assert "Traceback" not in answer.text
        time.sleep(max(0.0, outage_end - time.monotonic()))
        proxy.up()

        deadline = time.monotonic() + 180
        while True:
            status = api.get(f"{base}/analyses/{analysis_id}/", timeout=30)
            if status.status_code == 200 and status.json()["status"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(1)
        assert status.json()["status"] == "succeeded", (status.json(), worker.log_text()[-3000:])
    finally:
        worker.stop()
        web.terminate()
        web.wait(timeout=20)
        proxy.down()
    analysis = AnalysisRequest.objects.get(pk=analysis_id)
    assert analysis.status == AnalysisStatus.SUCCEEDED
    assert Report.objects.filter(request=analysis).count() == 1
    assert not AnalysisStep.objects.filter(request=analysis).exclude(status=StepStatus.DONE).exists()
