"""WebSockets of a SMART-launched session: the launched patient's sockets open, another
patient's are refused with 4404 (as "not found"), even one the clinician may otherwise see."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from cdss.audit.models import AuditEvent
from interop.sim.server import EhrSimulator
from tests.conftest import World, world_build
from tests.core.test_websocket import connect, session_cookie
from tests.factories import PatientFactory
from tests.interop.conftest import register
from tests.interop.test_smart_launch import CALLBACK, _ehr_launch_id, _launch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


def _launched_session(world: World, sim: EhrSimulator) -> tuple[bytes, Any, Any]:
    """A session opened by an EHR launch on the world's patient; a same-team patient and an
    analysis of theirs, both of which the clinician may see outside this session."""
    from inference.analysis.services import analysis_request_create

    register(sim, world=world, redirect_uri=CALLBACK)
    client = Client()
    response = _launch(client, sim, launch=_ehr_launch_id(sim))
    assert response.status_code == 302 and response["Location"] == f"/patients/{world.patient.pk}"
    same_team = PatientFactory.create(care_team=world.patient.care_team)
    analysis, _, _ = analysis_request_create(
        actor=world.clinician, patient=same_team, series_uids=[], model_keys=["noop"],
        idempotency_key="ehr-socket", dispatch=lambda messages: None,
    )
    return f"sessionid={client.cookies['sessionid'].value}".encode(), same_team, analysis


async def test_launched_session_sockets_reach_the_launched_patient_only(tworld: World, sim: EhrSimulator) -> None:
    cookie, same_team, analysis = await sync_to_async(_launched_session)(tworld, sim)

    communicator, (connected, _) = await connect(f"/ws/patients/{tworld.patient.pk}/", cookie=cookie)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "state.snapshot" and snapshot["patient_id"] == tworld.patient.pk
    await communicator.disconnect()

    for path in (f"/ws/patients/{same_team.pk}/", f"/ws/analyses/{analysis.pk}/", f"/ws/patients/{tworld.other_patient.pk}/"):
        _, (connected, code) = await connect(path, cookie=cookie)
        assert not connected and code == 4404, path
    denied = await sync_to_async(
        AuditEvent.objects.filter(object_type="ehr_context", outcome="denied", actor_id=tworld.clinician.pk).count
    )()
    assert denied == 3

    # The same clinician in an ordinary session still subscribes to the same-team patient.
    ordinary = await sync_to_async(session_cookie)(tworld.clinician)
    communicator, (connected, _) = await connect(f"/ws/patients/{same_team.pk}/", cookie=ordinary)
    assert connected
    await communicator.disconnect()
