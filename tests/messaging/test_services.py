"""The generic thread service: participants only, idempotent sends, replies, read receipts."""

from __future__ import annotations

from typing import Any

import pytest

from cdss.accounts.models import Role
from cdss.core.errors import NotFound, ValidationFailed
from messaging.services import (
    message_send,
    messages_after,
    thread_create,
    thread_get_for_user,
    thread_mark_read,
)
from tests.conftest import World, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_thread_about_a_patient_follows_patient_access(world: World) -> None:
    thread = thread_create(subject_type="care_team", subject_id=1, patient_id=world.patient.pk,
                           participants=[world.clinician, world.patient_user])
    assert thread_get_for_user(world.patient_user, thread.pk) == thread
    # A participant who may no longer see the patient no longer reads the thread.
    with pytest.raises(NotFound):
        thread_get_for_user(world.other_clinician, thread.pk)  # not a participant
    thread.participants.create(user=world.other_clinician)
    with pytest.raises(NotFound):
        thread_get_for_user(world.other_clinician, thread.pk)  # a participant who may not see the patient


def test_send_is_idempotent_and_replies_stay_in_the_thread(world: World) -> None:
    other = UserFactory.create(role=Role.CLINICIAN)
    thread = thread_create(subject_type="team", participants=[world.clinician, other])
    first, created = message_send(thread=thread, author=world.clinician, body="Hello", client_key="a1")
    again, created_again = message_send(thread=thread, author=world.clinician, body="Hello", client_key="a1")
    assert created and not created_again and again.pk == first.pk
    reply, _ = message_send(thread=thread, author=other, body="Hi", client_key="b1", parent_id=first.pk,
                            attachments=[{"kind": "report", "ref": "12", "label": "Report v2"}])
    assert reply.parent_id == first.pk and reply.attachments == [{"kind": "report", "ref": "12", "label": "Report v2"}]
    assert [m.pk for m in messages_after(thread=thread, after_id=first.pk)] == [reply.pk]
    with pytest.raises(ValidationFailed):
        message_send(thread=thread, author=other, body=" ", client_key="b2")
    with pytest.raises(ValidationFailed):
        message_send(thread=thread, author=other, body="x", client_key="b3", attachments=[{"kind": "file", "ref": "/etc"}])
    participant = thread_mark_read(thread=thread, user=other, message_id=reply.pk)
    assert participant.last_read_id == reply.pk
    # Read receipts never move back.
    assert thread_mark_read(thread=thread, user=other, message_id=first.pk).last_read_id == reply.pk


def test_thread_api_is_for_participants_only(world: World, api: Any) -> None:
    thread = thread_create(subject_type="team", participants=[world.clinician])
    assert client_for(world.clinician).get(f"/api/v1/threads/{thread.pk}/").json()["participants"][0]["user"] == world.clinician.pk
    assert client_for(world.other_clinician).get(f"/api/v1/threads/{thread.pk}/messages/").status_code == 404
    sent = client_for(world.clinician).post(f"/api/v1/threads/{thread.pk}/messages/", {"body": "x", "client_key": "k"},
                                            format="json")
    assert sent.status_code == 201
