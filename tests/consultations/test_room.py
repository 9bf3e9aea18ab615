"""The consult room and thread sockets: presence, viewer sync, signalling, messages, and the
socket closing the moment a share ends (revoked or expired)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from cdss.asgi import application
from consultations.models import Consultation
from patients.models import ShareGrant
from tests.conftest import client_for
from tests.consultations.conftest import Consult, consult_world, open_consultation
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(user: Any) -> bytes:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(path: str, user: Any) -> tuple[WebsocketCommunicator, bool, Any]:
    cookie = await sync_to_async(_cookie)(user)
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _until(communicator: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message.get("type") == kind:
                return message
    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture
def tconsult(transactional_db: Any) -> Consult:
    return consult_world()


async def _open(c: Consult, **overrides: Any) -> dict[str, Any]:
    return await sync_to_async(open_consultation)(c, **overrides)


async def test_room_presence_sync_and_signalling(tconsult: Consult) -> None:
    data = await _open(tconsult)
    path = f"/ws/consultations/{data['id']}/room/"
    clinician, ok, _ = await _connect(path, tconsult.clinician)
    assert ok
    consultant, ok, _ = await _connect(path, tconsult.consultant)
    assert ok
    joined = await _until(clinician, "presence.join")
    assert joined["user"]["id"] == tconsult.consultant.pk
    here = await _until(consultant, "presence.here")
    assert here["user"]["id"] == tconsult.clinician.pk

    state = {"series": tconsult.series.pk, "slice": 42, "ww": 400, "wc": 40, "zoom": 1.5, "pan": [0.1, -0.2],
             "pointer": [0.5, 0.5], "name": "Zebulon"}
    await clinician.send_json_to({"type": "viewer.state", "seq": 7, "state": state})
    followed = await _until(consultant, "viewer.state")
    assert followed["from"] == tconsult.clinician.pk and followed["seq"] == 7
    assert followed["state"] == {"series": tconsult.series.pk, "slice": 42, "ww": 400.0, "wc": 40.0, "zoom": 1.5,
                                 "pan": [0.1, -0.2], "pointer": [0.5, 0.5]}
    await clinician.send_json_to({"type": "viewer.state", "state": {"series": "x", "slice": 1}})
    assert (await _until(clinician, "room.error"))["code"] == "invalid_room_message"

    offer = {"sdp": {"type": "offer", "sdp": "v=0\r\n"}}
    await clinician.send_json_to({"type": "rtc.signal", "to": tconsult.consultant.pk, "data": offer})
    signal = await _until(consultant, "rtc.signal")
    assert signal["from"] == tconsult.clinician.pk and signal["data"] == offer

    await consultant.disconnect()
    left = await _until(clinician, "presence.leave")
    assert left["user"]["id"] == tconsult.consultant.pk
    await clinician.disconnect()


async def test_messages_arrive_as_ids_and_resume_after_reconnect(tconsult: Consult) -> None:
    data = await _open(tconsult)
    consultant, ok, _ = await _connect(f"/ws/consultations/{data['id']}/room/", tconsult.consultant)
    assert ok
    api = client_for(tconsult.clinician)
    send = sync_to_async(lambda key: api.post(f"/api/v1/threads/{data['thread']}/messages/",
                                              {"body": "Please look at segment 7.", "client_key": key,
                                               "attachments": [{"kind": "key_image", "ref": "1.2.3/4.5.6/7.8.9/1"}]},
                                              format="json"))
    first = await send("k-1")
    assert first.status_code == 201
    again = await send("k-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    event = await _until(consultant, "message.created")
    assert event == {"type": "message.created", "thread_id": data["thread"], "message_id": first.json()["id"],
                     "author_id": tconsult.clinician.pk}
    await consultant.disconnect()
    reader = client_for(tconsult.consultant)
    listed = await sync_to_async(reader.get)(f"/api/v1/threads/{data['thread']}/messages/?after=0")
    assert [m["id"] for m in listed.json()] == [first.json()["id"]]
    assert listed.json()[0]["attachments"][0]["kind"] == "key_image"
    empty = await sync_to_async(reader.get)(f"/api/v1/threads/{data['thread']}/messages/?after={first.json()['id']}")
    assert empty.json() == []
    read = await sync_to_async(reader.post)(f"/api/v1/threads/{data['thread']}/read/", {"message_id": first.json()["id"]},
                                            format="json")
    assert read.json()["last_read_id"] == first.json()["id"]


async def test_closing_the_consultation_closes_the_consultants_sockets(tconsult: Consult) -> None:
    data = await _open(tconsult)
    room, ok, _ = await _connect(f"/ws/consultations/{data['id']}/room/", tconsult.consultant)
    assert ok
    thread_socket, ok, _ = await _connect(f"/ws/threads/{data['thread']}/", tconsult.consultant)
    assert ok
    patient_socket, ok, _ = await _connect(f"/ws/patients/{tconsult.patient.pk}/", tconsult.consultant)
    assert ok
    closed = await sync_to_async(client_for(tconsult.clinician).post)(f"/api/v1/consultations/{data['id']}/close/")
    assert closed.status_code == 200
    for socket in (room, thread_socket, patient_socket):
        output = await socket.receive_output(timeout=5)
        while output["type"] != "websocket.close":
            output = await socket.receive_output(timeout=5)
        assert output["code"] in (4404, 4410)
    _again, ok, code = await _connect(f"/ws/consultations/{data['id']}/room/", tconsult.consultant)
    assert not ok and code == 4404


async def test_expiry_closes_the_open_socket(tconsult: Consult) -> None:
    data = await _open(tconsult)
    soon = timezone.now() + dt.timedelta(seconds=1.5)
    await sync_to_async(lambda: (Consultation.objects.filter(pk=data["id"]).update(expires_at=soon),
                                 ShareGrant.objects.filter(user=tconsult.consultant).update(expires_at=soon)))()
    room, ok, _ = await _connect(f"/ws/consultations/{data['id']}/room/", tconsult.consultant)
    assert ok
    output = await room.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await room.receive_output(timeout=5)
    assert output["code"] == 4404
    status = await sync_to_async(lambda: client_for(tconsult.consultant).get(
        f"/api/v1/patients/{tconsult.patient.pk}/").status_code)()
    assert status == 404


async def test_strangers_cannot_enter_the_room(tconsult: Consult) -> None:
    data = await _open(tconsult)
    _stranger, ok, code = await _connect(f"/ws/consultations/{data['id']}/room/", tconsult.other_consultant)
    assert not ok and code == 4404
    _thread, ok, code = await _connect(f"/ws/threads/{data['thread']}/", tconsult.other_consultant)
    assert not ok and code == 4404
