"""Live progress over Channels with a real worker, and recovery from a Redis restart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from channels.testing import WebsocketCommunicator

from cdss.asgi import application
from cdss.core.queues import queue_name
from inference.analysis.services import Message, analysis_request_create
from inference.models import AnalysisRequest, AnalysisStatus, AnalysisStep, Report, StepStatus
from tests.conftest import World, world_build
from tests.core.test_websocket import session_cookie
from tests.integration.conftest import RedisServer, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


async def open_socket(world: World, user: Any) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, f"/ws/patients/{world.patient.pk}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "state.snapshot"
    return communicator


async def events_until_report(communicator: WebsocketCommunicator, timeout: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        events.append(event)
        if event["type"] == "report.ready":
            return events
    raise AssertionError(f"no report.ready among {events}")


async def test_two_browsers_see_the_same_live_progress(celery_worker_process: WorkerProcess, tworld: World) -> None:
    clinician = await open_socket(tworld, tworld.clinician)
    consultant = await open_socket(tworld, tworld.consultant)  # the remote specialist, live
    analysis, _, _ = await sync_to_async(analysis_request_create)(
        actor=tworld.clinician, patient=tworld.patient, series_uids=[], model_keys=["noop"], idempotency_key="live",
    )
    seen_a, seen_b = await asyncio.gather(events_until_report(clinician, 60), events_until_report(consultant, 60))
    for seen in (seen_a, seen_b):
        steps = [e.get("step") for e in seen if e.get("request_id") == analysis.pk]
        assert "running model" in steps and "scoring" in steps and "fusing" in steps and "writing report" in steps
        assert seen[-1]["status"] == "succeeded" and seen[-1]["report_id"] is not None
        # Notifications carry ids, status and progress only: no names, MRNs or values.
        for event in seen:
            assert set(event) <= {"type", "request_id", "patient_id", "status", "step", "progress", "error_code",
                                  "report_id", "step_key", "k", "n", "unit", "eta_s", "kind", "record", "action", "ids"}
    assert [e["progress"] for e in seen_a if "progress" in e] == sorted(e["progress"] for e in seen_a if "progress" in e)
    # A late subscriber first gets the current state, with the finished request and its report.
    late = await open_socket(tworld, tworld.clinician)
    await late.disconnect()
    for communicator in (clinician, consultant):
        await communicator.disconnect()


def test_request_completes_after_redis_restart(tworld: World, tmp_path: Any, own_redis: RedisServer) -> None:
    worker = WorkerProcess(
        tmp_path / "worker.log", beat=True, REDIS_URL=own_redis.url,
        ANALYSIS_SWEEP_EVERY_S="2", ANALYSIS_STEP_STALE_S="4",
    )
    # Not the current app: other tests must keep sending to the suite's own broker.
    sender = Celery(broker=own_redis.url, set_as_current=False)

    def dispatch(messages: list[Message]) -> None:
        for what, object_id, queue in messages:
            name = "inference.analysis_advance" if what == "advance" else "inference.analysis_step"
            sender.send_task(name, args=[object_id], queue=queue_name(queue))

    try:
        worker.start()
        analysis, _, _ = analysis_request_create(
            actor=tworld.clinician, patient=tworld.patient, series_uids=[], model_keys=["noop"],
            idempotency_key="redis-restart", options={"noop_sleep_s": 6}, dispatch=dispatch,
        )
        deadline = time.monotonic() + 90
        while not AnalysisStep.objects.filter(request=analysis, kind="imaging", status=StepStatus.RUNNING).exists():
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.2)
        own_redis.stop()  # Redis goes away mid-inference, and its queues with it
        time.sleep(4)
        own_redis.start()  # same port, empty: nothing was persisted
        deadline = time.monotonic() + 120
        while not AnalysisRequest.objects.get(pk=analysis.pk).is_finished:
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.5)
    finally:
        worker.stop()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED, analysis.error_code
    assert Report.objects.filter(request=analysis).count() == 1
