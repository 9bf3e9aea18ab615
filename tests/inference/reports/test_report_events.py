"""The live events a patient's socket carries: released reports only, never analysis progress
or news of a draft; the analysis socket is closed to patients like a missing analysis."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from inference.analysis.services import analysis_request_create
from inference.events import event_publish, patient_group
from inference.models import Report, ReportStatus
from inference.reports.content import content_sha256
from tests.conftest import world_build
from tests.core.test_websocket import connect, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tworld(transactional_db: Any) -> Any:
    return world_build()


def _reports(world: Any) -> tuple[int, int]:
    content = {"schema": "cdss.report/1", "scores": {}}
    now = timezone.now()
    released = Report.objects.create(patient=world.patient, version=1, status=ReportStatus.FINAL, content=content,
                                      content_sha256=content_sha256(content), signed_by=world.clinician,
                                      signed_at=now, released_at=now, released_by=world.clinician)
    draft = Report.objects.create(patient=world.patient, version=2, content=content, content_sha256=content_sha256(content))
    return released.pk, draft.pk


async def test_patient_socket_gets_released_reports_and_their_release_only(tworld: Any) -> None:
    released, draft = await sync_to_async(_reports)(tworld)
    cookie = await sync_to_async(session_cookie)(tworld.patient_user)
    communicator, (connected, _) = await connect(f"/ws/patients/{tworld.patient.pk}/", cookie=cookie)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot == {"type": "state.snapshot", "patient_id": tworld.patient.pk, "reports": [released]}
    group = [patient_group(tworld.patient.pk)]
    for event_type, payload in [
        ("analysis.progress", {"request_id": 1, "progress": 50}),
        ("report.ready", {"request_id": 1, "report_id": draft}),
        ("record.changed", {"patient_id": tworld.patient.pk, "record": "report", "action": "created", "ids": [draft]}),
        ("record.changed", {"patient_id": tworld.patient.pk, "record": "report", "action": "released", "ids": [released]}),
    ]:
        await sync_to_async(event_publish)(groups=group, event_type=event_type, payload=payload)
    # Only the release arrives: the three before it were dropped for this socket.
    event = await communicator.receive_json_from(timeout=5)
    assert event == {"type": "record.changed", "patient_id": tworld.patient.pk, "record": "report",
                     "action": "released", "ids": [released]}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_clinician_socket_still_gets_analysis_progress(tworld: Any) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.clinician)
    communicator, (connected, _) = await connect(f"/ws/patients/{tworld.patient.pk}/", cookie=cookie)
    assert connected
    await communicator.receive_json_from(timeout=5)
    await sync_to_async(event_publish)(groups=[patient_group(tworld.patient.pk)], event_type="analysis.progress",
                                       payload={"request_id": 1, "progress": 50})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "analysis.progress"
    await communicator.disconnect()


async def test_analysis_socket_is_not_found_for_the_patient(tworld: Any) -> None:
    analysis, _, _ = await sync_to_async(analysis_request_create)(
        actor=tworld.clinician, patient=tworld.patient, series_uids=[], model_keys=["noop"],
        idempotency_key="ws-patient", dispatch=lambda messages: None,
    )
    cookie = await sync_to_async(session_cookie)(tworld.patient_user)
    _, (connected, code) = await connect(f"/ws/analyses/{analysis.pk}/", cookie=cookie)
    assert not connected and code == 4404
