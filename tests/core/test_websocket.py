from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from cdss.asgi import application
from cdss.audit.models import AuditEvent
from inference.events import event_publish, patient_group
from tests.conftest import world_build
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user: Any) -> bytes:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(path: str, *, origin: bytes = b"http://localhost", cookie: bytes | None = None) -> tuple[WebsocketCommunicator, Any]:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, (connected, code)


@pytest.fixture
def tworld(transactional_db: Any) -> Any:
    return world_build()


async def test_foreign_origin_is_refused(tworld: Any) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.clinician)
    communicator, (connected, _) = await connect(
        f"/ws/patients/{tworld.patient.pk}/", origin=b"https://evil.example.com", cookie=cookie
    )
    assert not connected
    await communicator.disconnect()


async def test_anonymous_is_refused(tworld: Any) -> None:
    _communicator, (connected, code) = await connect(f"/ws/patients/{tworld.patient.pk}/")
    assert not connected and code == 4401


async def test_clinician_outside_team_cannot_subscribe(tworld: Any) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.other_clinician)
    _communicator, (connected, code) = await connect(f"/ws/patients/{tworld.patient.pk}/", cookie=cookie)
    assert not connected and code == 4404
    denied = await sync_to_async(AuditEvent.objects.filter(outcome="denied", actor_id=tworld.other_clinician.pk).exists)()
    assert denied


async def test_care_team_clinician_receives_events(tworld: Any) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.clinician)
    communicator, (connected, _) = await connect(f"/ws/patients/{tworld.patient.pk}/", cookie=cookie)
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot == {"type": "state.snapshot", "patient_id": tworld.patient.pk, "analyses": []}
    await sync_to_async(event_publish)(
        groups=[patient_group(tworld.patient.pk)], event_type="record.changed",
        payload={"patient_id": tworld.patient.pk, "kind": "observation"},
    )
    event = await communicator.receive_json_from(timeout=5)
    assert event == {"type": "record.changed", "patient_id": tworld.patient.pk, "kind": "observation"}
    subscribed = await sync_to_async(AuditEvent.objects.filter(action="subscribe", actor_id=tworld.clinician.pk).exists)()
    assert subscribed
    await communicator.disconnect()


async def test_analysis_socket_gives_state_first_and_refuses_outsiders(tworld: Any) -> None:
    from inference.analysis.services import analysis_request_create

    analysis, _, _ = await sync_to_async(analysis_request_create)(
        actor=tworld.clinician, patient=tworld.patient, series_uids=[], model_keys=["noop"],
        idempotency_key="ws", dispatch=lambda messages: None,
    )
    cookie = await sync_to_async(session_cookie)(tworld.consultant)
    communicator, (connected, _) = await connect(f"/ws/analyses/{analysis.pk}/", cookie=cookie)
    assert connected
    state = await communicator.receive_json_from(timeout=5)
    assert state["type"] == "state.snapshot" and state["request_id"] == analysis.pk and state["status"] == "queued"
    await communicator.disconnect()
    outsider = await sync_to_async(session_cookie)(tworld.other_patient_user)
    _, (connected, code) = await connect(f"/ws/analyses/{analysis.pk}/", cookie=outsider)
    assert not connected and code == 4404


async def test_idle_layer_receive_outlives_the_socket_timeout() -> None:
    """redis-py 8 reads with a 5 s socket timeout by default, and channels_redis's list layer
    blocked 5 s per BZPOPMIN: every idle WebSocket died with close code 1011. Whatever layer is
    configured, a receive that waits longer than that must simply keep waiting."""
    import asyncio

    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=6.5)
    # The layer's connection survived the idle wait: a message still arrives.
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "still.alive"})
    assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["type"] == "still.alive"
