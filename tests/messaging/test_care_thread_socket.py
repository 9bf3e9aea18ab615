"""The care-team thread's socket: its participants are told of new messages by id; another
patient is refused, like a missing thread."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from messaging.care_team import care_thread_for_user
from messaging.services import message_send
from tests.conftest import world_build
from tests.core.test_websocket import connect, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tworld(transactional_db: Any) -> Any:
    return world_build()


async def test_other_patient_cannot_subscribe_and_participants_get_ids_only(tworld: Any) -> None:
    thread = await sync_to_async(care_thread_for_user)(user=tworld.patient_user, patient=tworld.patient)
    outsider = await sync_to_async(session_cookie)(tworld.other_patient_user)
    _refused, (connected, code) = await connect(f"/ws/threads/{thread.pk}/", cookie=outsider)
    assert not connected and code == 4404

    cookie = await sync_to_async(session_cookie)(tworld.patient_user)
    communicator, (connected, _) = await connect(f"/ws/threads/{thread.pk}/", cookie=cookie)
    assert connected
    await sync_to_async(care_thread_for_user)(user=tworld.clinician, patient=tworld.patient)
    message, _ = await sync_to_async(message_send)(
        thread=thread, author=tworld.clinician, body="Your results look stable.", client_key="c1"
    )
    event = json.loads(await asyncio.wait_for(communicator.receive_from(), timeout=5))
    assert event["type"] == "message.created" and event["message_id"] == message.pk
    assert "stable" not in json.dumps(event)  # the socket carries ids, never the text
    await communicator.disconnect()
