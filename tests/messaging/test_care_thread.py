"""The patient's conversation with their care team on the shared message service."""

from __future__ import annotations

import pytest

from cdss.audit.models import AuditEvent
from messaging.models import Thread
from tests.conftest import World, client_for

pytestmark = pytest.mark.django_db


def _thread(world: World, user: object) -> dict:
    response = client_for(user).get(f"/api/v1/patients/{world.patient.pk}/care-thread/")  # type: ignore[arg-type]
    assert response.status_code == 200, response.content
    return response.json()


def test_patient_and_clinician_share_one_thread_with_read_receipts(world: World) -> None:
    mine = _thread(world, world.patient_user)
    assert mine["subject_type"] == "care_team" and mine["patient"] == world.patient.pk
    assert {p["user"] for p in mine["participants"]} == {world.patient_user.pk}
    patient = client_for(world.patient_user)
    sent = patient.post(f"/api/v1/threads/{mine['id']}/messages/", {"body": "Is my aMAP score bad?", "client_key": "k1"}, format="json")
    assert sent.status_code == 201
    again = patient.post(f"/api/v1/threads/{mine['id']}/messages/", {"body": "Is my aMAP score bad?", "client_key": "k1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == sent.json()["id"]  # a resend is not a second message

    theirs = _thread(world, world.clinician)
    assert theirs["id"] == mine["id"] and Thread.objects.count() == 1
    clinician = client_for(world.clinician)
    rows = clinician.get(f"/api/v1/threads/{theirs['id']}/messages/").json()
    assert [m["body"] for m in rows] == ["Is my aMAP score bad?"]
    assert clinician.post(f"/api/v1/threads/{theirs['id']}/read/", {"message_id": rows[0]["id"]}, format="json").status_code == 200
    reply = clinician.post(f"/api/v1/threads/{theirs['id']}/messages/", {"body": "Let us talk on Monday.", "client_key": "r1"}, format="json")
    assert reply.status_code == 201

    participants = {p["user"]: p["last_read_id"] for p in _thread(world, world.patient_user)["participants"]}
    assert participants[world.clinician.pk] >= sent.json()["id"]  # the patient sees that it was read
    assert participants[world.patient_user.pk] == sent.json()["id"]  # and has not read the reply yet


@pytest.mark.parametrize(("role", "status"), [("consultant", 403), ("admin", 403), ("other_clinician", 404), ("patient_other", 404)])
def test_only_the_patient_and_their_care_team_take_part(world: World, role: str, status: int) -> None:
    user = world.users()[role]
    response = client_for(user).get(f"/api/v1/patients/{world.patient.pk}/care-thread/")
    assert response.status_code == status
    assert Thread.objects.filter(participants__user=user).count() == 0
    assert AuditEvent.objects.filter(actor_id=user.pk, patient_id=world.patient.pk, outcome="denied").exists()  # type: ignore[union-attr]


def test_another_patient_cannot_read_the_thread_by_id(world: World) -> None:
    thread = _thread(world, world.patient_user)
    outsider = client_for(world.other_patient_user)
    assert outsider.get(f"/api/v1/threads/{thread['id']}/messages/").status_code == 404
    assert outsider.post(f"/api/v1/threads/{thread['id']}/messages/", {"body": "hi", "client_key": "x"}, format="json").status_code == 404
