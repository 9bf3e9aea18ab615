"""The analysis pipeline against a real Celery worker process, Redis and the database.

Each test asserts the invariant that matters clinically: every request ends, and ends with
exactly one report, whatever happens to the worker or the broker in between.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psutil
import pytest
from django.db import connection
from django.test import override_settings

from inference.analysis.services import analysis_request_create, analysis_sweep
from inference.models import AnalysisRequest, AnalysisStatus, AnalysisStep, Report, StepStatus
from tests.conftest import World, world_build
from tests.integration.conftest import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def submit(world: World, key: str, **options: Any) -> AnalysisRequest:
    analysis, created, _ = analysis_request_create(
        actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
        idempotency_key=key, options=options,
    )
    assert created
    return analysis


def finished(analysis_id: int) -> bool:
    return AnalysisRequest.objects.get(pk=analysis_id).is_finished


def step_running(analysis_id: int) -> bool:
    return AnalysisStep.objects.filter(request_id=analysis_id, kind="imaging", status=StepStatus.RUNNING).exists()


def pool_children(worker: WorkerProcess) -> list[psutil.Process]:
    assert worker.process is not None
    return psutil.Process(worker.process.pid).children(recursive=True)


def test_end_to_end_with_a_real_worker(celery_worker_process: WorkerProcess, tworld: World) -> None:
    analysis = submit(tworld, "e2e")
    wait_for(lambda: finished(analysis.pk), 60, "the analysis to finish")
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, celery_worker_process.log_text()[-2000:])
    assert Report.objects.filter(request=analysis).count() == 1


def sessions_opened() -> int:
    """PostgreSQL sessions ever opened to the test database (other backends report within ~1 s)."""
    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="connection pooling is PostgreSQL's (SQLite has no sessions)")
def test_worker_keeps_its_database_connections_between_tasks(celery_worker_process: WorkerProcess, tworld: World) -> None:
    # Celery's Django fix-up closed the pool after every task, so each task paid for a new
    # connection; the worker now hands connections back to the pool instead.
    warm = submit(tworld, "warm-up")
    wait_for(lambda: finished(warm.pk), 60, "the warm-up analysis to finish")
    before = sessions_opened()
    analyses = [submit(tworld, f"pooled-{n}") for n in range(5)]
    wait_for(lambda: all(finished(a.pk) for a in analyses), 60, "the analyses to finish")
    opened = sessions_opened() - before
    assert all(AnalysisRequest.objects.get(pk=a.pk).status == AnalysisStatus.SUCCEEDED for a in analyses)
    # Ten tasks ran; at most the pool's growth may open a connection or two.
    assert opened <= 2, f"{opened} new PostgreSQL sessions for 10 tasks"


# Five rounds in CI; scripts/chaos.sh runs twenty.
KILL_ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "5"))


def test_kill_pool_child_mid_inference_repeatedly(celery_worker_process: WorkerProcess, tworld: World) -> None:
    for round_no in range(KILL_ROUNDS):
        analysis = submit(tworld, f"kill-child-{round_no}", noop_sleep_s=4)
        wait_for(lambda a=analysis: step_running(a.pk), 60, "the model step to start")
        for child in pool_children(celery_worker_process):
            os.kill(child.pid, signal.SIGKILL)
        # reject_on_worker_lost requeues the task; the master forks a new child that reruns it.
        wait_for(lambda a=analysis: finished(a.pk), 90, "the analysis to finish after the kill")
        analysis.refresh_from_db()
        assert analysis.status == AnalysisStatus.SUCCEEDED, analysis.error_code
        assert Report.objects.filter(request=analysis).count() == 1
        assert AnalysisStep.objects.get(request=analysis, kind="imaging").attempts >= 2


def test_kill_main_process_then_sweeper_redrives(tworld: World, tmp_path: Any) -> None:
    worker = WorkerProcess(tmp_path / "w1.log")
    try:
        worker.start()
        analysis = submit(tworld, "kill-main", noop_sleep_s=6)
        wait_for(lambda: step_running(analysis.pk), 60, "the model step to start")
        assert worker.process is not None
        for child in pool_children(worker):
            os.kill(child.pid, signal.SIGKILL)
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
    finally:
        worker.stop()
    replacement = WorkerProcess(tmp_path / "w2.log")
    try:
        replacement.start()
        # The unacknowledged message would come back only after the visibility timeout; the
        # periodic sweeper re-drives the step much sooner.
        with override_settings(ANALYSIS_STEP_STALE_S=1):
            time.sleep(1.5)
            assert analysis_sweep()["redriven"] >= 1
        wait_for(lambda: finished(analysis.pk), 90, "the analysis to finish after the sweep")
    finally:
        replacement.stop()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED, analysis.error_code
    assert Report.objects.filter(request=analysis).count() == 1


def test_duplicate_delivery_after_short_visibility_timeout(tworld: World, tmp_path: Any) -> None:
    # Redis redelivers a task still running once the visibility timeout (2 s) passes: two
    # workers then run the same step at once. Still exactly one report.
    first = WorkerProcess(tmp_path / "a.log", CELERY_VISIBILITY_TIMEOUT_S="2")
    second = WorkerProcess(tmp_path / "b.log", CELERY_VISIBILITY_TIMEOUT_S="2")
    try:
        first.start()
        second.start()
        analysis = submit(tworld, "dup", noop_sleep_s=8)
        wait_for(lambda: finished(analysis.pk), 120, "the analysis to finish")
    finally:
        first.stop()
        second.stop()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED, analysis.error_code
    assert Report.objects.filter(request=analysis).count() == 1
    assert Report.objects.count() == 1
