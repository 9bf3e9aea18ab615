"""The consultation workflow over REST, and what a share lets a consultant see."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from cdss.accounts.models import Role
from cdss.audit.models import AuditEvent
from consultations.models import Consultation
from patients.models import ShareGrant
from tests.conftest import client_for
from tests.consultations.conftest import CANARY, Consult, open_consultation, request_body
from tests.factories import CareTeamFactory

pytestmark = pytest.mark.django_db


def test_request_appears_in_consultant_inbox_and_notifies(consult: Consult, django_capture_on_commit_callbacks: Any) -> None:
    with mock.patch("consultations.notify.notify_log") as notify, django_capture_on_commit_callbacks(execute=True):
        created = client_for(consult.clinician).post("/api/v1/consultations/", request_body(consult), format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["state"] == "requested" and body["urgency"] == "urgent"
    notify.assert_called_once_with(body["id"], [consult.consultant.pk])
    inbox = client_for(consult.consultant).get("/api/v1/consultations/").json()
    assert [c["id"] for c in inbox] == [body["id"]]
    assert inbox[0]["question"] == "Is this lesion LI-RADS 5?"
    assert inbox[0]["patient_label"] == "Shared on acceptance"
    assert client_for(consult.other_consultant).get("/api/v1/consultations/").json() == []
    # Before acceptance the consultant sees nothing of the patient.
    assert client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"question": ""}, "validation_failed"),
        ({"consultant": None}, "consultant_required"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "invalid_expiry"),
        ({"scope": "studies", "study_uids": ["1.2.3.999"]}, "unknown_study"),
        ({"scope": "studies"}, "empty_scope"),
        ({"scope": "studies", "report_ids": [987654]}, "unknown_report"),
    ],
)
def test_request_rejects_bad_input(consult: Consult, override: dict[str, Any], code: str) -> None:
    response = client_for(consult.clinician).post("/api/v1/consultations/", request_body(consult, **override), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Consultation.objects.exists()


def test_consultant_cannot_request_and_stranger_clinician_gets_404(consult: Consult, world: Any) -> None:
    assert client_for(consult.consultant).post("/api/v1/consultations/", request_body(consult), format="json").status_code == 404
    assert client_for(world.clinician).post("/api/v1/consultations/", request_body(consult), format="json").status_code == 404


def test_accept_opens_a_deidentified_share(consult: Consult) -> None:
    data = open_consultation(consult)
    assert data["state"] == "open" and data["thread"] is not None
    assert data["patient_label"].startswith("P-")
    grant = ShareGrant.objects.get(user=consult.consultant)
    assert grant.identifiable is False and grant.expires_at.isoformat()[:16] == data["expires_at"][:16].replace("Z", "")[:16]
    patient = client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/").json()
    assert patient["mrn"] == grant.pseudonym and patient["family_name"] == grant.pseudonym
    assert patient["age_band"] == "65-69" and patient["birth_date"] is None and patient["deidentified"] is True
    # The requesting clinician still sees the record as it is.
    own = client_for(consult.clinician).get(f"/api/v1/patients/{consult.patient.pk}/").json()
    assert own["mrn"] == CANARY["mrn"]
    # Accepting twice, or by someone else, is refused.
    again = client_for(consult.consultant).post(f"/api/v1/consultations/{data['id']}/accept/")
    assert again.status_code == 409 and again.json()["code"] == "consultation_not_pending"


def test_record_canary_never_reaches_a_deidentified_consultant(consult: Consult) -> None:
    data = open_consultation(consult)
    client = client_for(consult.consultant)
    pid = consult.patient.pk
    bodies = []
    for path in [
        "/api/v1/patients/", f"/api/v1/patients/{pid}/", f"/api/v1/patients/{pid}/imaging/studies/",
        f"/api/v1/patients/{pid}/summary/", f"/api/v1/patients/{pid}/observations/",
        f"/api/v1/patients/{pid}/findings/", f"/api/v1/patients/{pid}/opinions/",
        "/api/v1/consultations/", f"/api/v1/consultations/{data['id']}/", f"/api/v1/consultations/{data['id']}/room/",
        f"/api/v1/patients/{pid}/fhir/",
    ]:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        bodies.append((path, response.content.decode()))
    leaked = [(path, value) for path, text in bodies for value in (*CANARY.values(), "1961-03-14", "19610314",
                                                                    consult.study.study_instance_uid) if value in text]
    assert leaked == []
    # Searching by the real name, MRN or birth date does not find the pseudonymous record.
    for query in ({"q": CANARY["family_name"]}, {"q": CANARY["mrn"]}, {"birth_date": "1961-03-14"}):
        assert client.get("/api/v1/patients/", query).json()["results"] == []
    assert len(client.get("/api/v1/patients/").json()["results"]) == 1
    # Documents that carry identifiers by nature are refused to a de-identified share.
    assert client.get(f"/api/v1/patients/{pid}/fhir/").status_code == 404
    assert client.get(f"/api/v1/patients/{pid}/record/pdf/").status_code == 404
    assert client.get(f"/api/v1/patients/{pid}/record/fhir/").status_code == 404
    # The studies are listed with pseudonymous UIDs, consistently.
    studies = client.get(f"/api/v1/patients/{pid}/imaging/studies/").json()
    assert studies[0]["study_instance_uid"].startswith("2.25.")
    assert studies == client.get(f"/api/v1/patients/{pid}/imaging/studies/").json()
    room = client.get(f"/api/v1/consultations/{data['id']}/room/").json()
    assert room["series"][0]["study_uid"] == studies[0]["study_instance_uid"]


def test_identifiable_share_shows_the_record(consult: Consult) -> None:
    open_consultation(consult, identifiable=True)
    patient = client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/").json()
    assert patient["mrn"] == CANARY["mrn"]


def test_expiry_answers_404_everywhere(consult: Consult) -> None:
    data = open_consultation(consult)
    client = client_for(consult.consultant)
    pid = consult.patient.pk
    paths = [
        f"/api/v1/patients/{pid}/", f"/api/v1/patients/{pid}/observations/", f"/api/v1/patients/{pid}/imaging/studies/",
        f"/api/v1/patients/{pid}/reports/", f"/api/v1/patients/{pid}/opinions/", f"/api/v1/consultations/{data['id']}/",
        f"/api/v1/consultations/{data['id']}/room/", f"/api/v1/threads/{data['thread']}/messages/",
        f"/api/v1/patients/{pid}/summary/",
    ]
    assert all(client.get(p).status_code == 200 for p in paths)
    Consultation.objects.filter(pk=data["id"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    ShareGrant.objects.filter(user=consult.consultant).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert {p: client.get(p).status_code for p in paths} == dict.fromkeys(paths, 404)
    assert client.get("/api/v1/consultations/").json() == []
    # The requesting side still sees it, as expired.
    assert client_for(consult.clinician).get(f"/api/v1/consultations/{data['id']}/").json()["state"] == "expired"


def test_close_by_either_side_ends_the_share(consult: Consult) -> None:
    data = open_consultation(consult)
    closed = client_for(consult.clinician).post(f"/api/v1/consultations/{data['id']}/close/")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/").status_code == 404
    assert ShareGrant.objects.get(user=consult.consultant).revoked_at is not None
    assert AuditEvent.objects.filter(object_type="share_grant", detail__revoked=True).exists()


def test_consultant_closes_and_declines(consult: Consult) -> None:
    data = open_consultation(consult)
    assert client_for(consult.consultant).post(f"/api/v1/consultations/{data['id']}/close/").status_code == 200
    second = client_for(consult.clinician).post("/api/v1/consultations/", request_body(consult), format="json").json()
    declined = client_for(consult.consultant).post(f"/api/v1/consultations/{second['id']}/decline/")
    assert declined.status_code == 200
    assert client_for(consult.clinician).get(f"/api/v1/consultations/{second['id']}/").json()["state"] == "declined"
    assert client_for(consult.other_consultant).post(f"/api/v1/consultations/{second['id']}/accept/").status_code == 404


def test_group_request_is_accepted_by_one_member(consult: Consult) -> None:
    group = CareTeamFactory.create(members=[consult.consultant, consult.other_consultant])
    body = request_body(consult, consultant=None, consultant_group=group.pk)
    created = client_for(consult.clinician).post("/api/v1/consultations/", body, format="json").json()
    assert [c["id"] for c in client_for(consult.other_consultant).get("/api/v1/consultations/").json()] == [created["id"]]
    accepted = client_for(consult.other_consultant).post(f"/api/v1/consultations/{created['id']}/accept/").json()
    assert accepted["consultant"] == consult.other_consultant.pk
    # Once one member has it, the others no longer see it.
    assert client_for(consult.consultant).get("/api/v1/consultations/").json() == []


def test_study_scope_limits_imaging(consult: Consult) -> None:
    from imaging.models import ImagingStudy

    ImagingStudy.objects.create(patient=consult.patient, study_instance_uid="1.2.826.0.1.3680043.8.498.200")
    open_consultation(consult, scope="studies", study_uids=[consult.study.study_instance_uid], identifiable=True)
    studies = client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/imaging/studies/").json()
    assert [s["study_instance_uid"] for s in studies] == [consult.study.study_instance_uid]


def test_report_scope_limits_reports(consult: Consult) -> None:
    from inference.models import Report
    from inference.reports.content import content_sha256

    content: dict[str, Any] = {"schema": "cdss.report/1", "scores": {}}
    shared, other = (
        Report.objects.create(patient=consult.patient, version=v, content=content, content_sha256=content_sha256(content))
        for v in (1, 2)
    )
    open_consultation(consult, scope="studies", study_uids=[consult.study.study_instance_uid], report_ids=[shared.pk],
                      identifiable=True)
    consultant = client_for(consult.consultant)
    listed = consultant.get(f"/api/v1/patients/{consult.patient.pk}/reports/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in rows] == [shared.pk]
    assert consultant.get(f"/api/v1/reports/{shared.pk}/").status_code == 200
    assert consultant.get(f"/api/v1/reports/{other.pk}/").status_code == 404
    assert consultant.get(f"/api/v1/reports/{other.pk}/export/pdf/").status_code == 404
    # The care team still sees both.
    assert client_for(consult.clinician).get(f"/api/v1/reports/{other.pk}/").status_code == 200


def test_opinion_signed_once_and_on_the_patient_record(consult: Consult) -> None:
    data = open_consultation(consult)
    path = f"/api/v1/consultations/{data['id']}/opinion/"
    body = {"answer": "Yes: LI-RADS 5.", "recommendations": ["MDT discussion", "Stage with chest CT"], "urgency": "urgent"}
    assert client_for(consult.clinician).post(path, body, format="json").status_code == 403
    signed = client_for(consult.consultant).post(path, body, format="json")
    assert signed.status_code == 201
    opinion = signed.json()
    assert opinion["author"] == consult.consultant.pk and len(opinion["content_sha256"]) == 64
    assert client_for(consult.consultant).post(path, body, format="json").json()["code"] == "opinion_already_signed"
    listed = client_for(consult.clinician).get(f"/api/v1/patients/{consult.patient.pk}/opinions/").json()
    assert [o["answer"] for o in listed] == ["Yes: LI-RADS 5."]
    assert listed[0]["recommendations"] == ["MDT discussion", "Stage with chest CT"]


def test_consultant_directory_for_clinicians_only(consult: Consult) -> None:
    directory = client_for(consult.clinician).get("/api/v1/consultants/").json()
    assert {c["id"] for c in directory["consultants"]} >= {consult.consultant.pk, consult.other_consultant.pk}
    assert client_for(consult.consultant).get("/api/v1/consultants/").status_code == 403


def test_openapi_documents_the_consultation_api(consult: Consult) -> None:
    schema = client_for(consult.clinician).get("/api/schema/", HTTP_ACCEPT="application/json")
    paths = json.loads(schema.content)["paths"] if schema["Content-Type"].startswith("application/json") else None
    text = schema.content.decode()
    for path in ("/api/v1/consultations/", "/api/v1/consultations/{consultation_id}/accept/",
                 "/api/v1/consultations/{consultation_id}/opinion/", "/api/v1/threads/{thread_id}/messages/",
                 "/api/v1/patients/{patient_id}/opinions/"):
        assert (path in paths) if paths is not None else (path in text)


def test_roles_other_than_clinician_and_consultant_see_no_consultations(consult: Consult, world: Any) -> None:
    open_consultation(consult)
    assert world.patient_user.role == Role.PATIENT
    assert client_for(world.patient_user).get("/api/v1/consultations/").json() == []
