"""Report lifecycle: draft -> signed -> (amended | superseded), release to the patient, and
what a patient may reach (the patient version of released reports, nothing else)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from cdss.audit.models import AuditEvent
from inference.analysis.services import analysis_request_create
from inference.models import Report, ReportStatus
from tests.conftest import World, client_for
from tests.inference.pipeline_helpers import InlineBroker

# What the patient version must never carry: model keys, hashes, raw content, score ids.
CLINICAL_ONLY_MARKERS = ("noop", "weights_sha256", "content_sha256", "imaging_findings", "code_version", "meld_na", "fib4")


def analysed(world: World, key: str, capture: Any) -> Report:
    broker = InlineBroker()
    with capture(execute=True):
        analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
                                idempotency_key=key, dispatch=broker)
    broker.drain()
    return Report.objects.get(request__idempotency_key=key)


@pytest.fixture
def make(world: World, django_capture_on_commit_callbacks: Any) -> Any:
    return lambda key: analysed(world, key, django_capture_on_commit_callbacks)


def sign(world: World, report: Report) -> Any:
    return client_for(world.clinician).post(f"/api/v1/reports/{report.pk}/sign/", {"comment": "ok"}, format="json")


def test_a_new_analysis_makes_a_draft_beside_the_signed_version(world: World, make: Any) -> None:
    v1 = make("a")
    assert sign(world, v1).status_code == 200
    v2 = make("b")
    v1.refresh_from_db()
    assert v2.status == ReportStatus.DRAFT and v2.version == v1.version + 1
    assert v1.status == ReportStatus.FINAL and not hasattr(v1, "superseded_by")
    # Only signing the newer version supersedes the older signed one.
    body = sign(world, v2).json()
    v1.refresh_from_db()
    assert body["supersedes"] == v1.pk and body["current"] is True
    assert v1.status == ReportStatus.SUPERSEDED and v1.superseded_by.pk == v2.pk
    assert Report.objects.filter(patient=world.patient, status=ReportStatus.FINAL).count() == 1


def test_an_older_draft_cannot_displace_a_newer_signed_version(world: World, make: Any) -> None:
    v1, v2 = make("a"), make("b")
    assert sign(world, v2).status_code == 200
    response = sign(world, v1)
    assert response.status_code == 409 and response.json()["code"] == "report_not_current"
    assert client_for(world.clinician).get(f"/api/v1/reports/{v1.pk}/").json()["sign_blocker"]["code"] == "report_not_current"


def test_an_amendment_of_a_replaced_version_cannot_be_signed(world: World, make: Any) -> None:
    client = client_for(world.clinician)
    v1 = make("a")
    sign(world, v1)
    amendment = client.post(f"/api/v1/reports/{v1.pk}/amend/", {"text": "typo"}, format="json").json()
    v3 = make("b")
    sign(world, v3)
    response = client.post(f"/api/v1/reports/{amendment['id']}/sign/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "report_not_current"
    # Only the current signed version can be amended.
    again = client.post(f"/api/v1/reports/{v1.pk}/amend/", {"text": "late"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "report_not_current"


def test_lists_name_the_requester_and_the_signer(world: World, make: Any) -> None:
    world.clinician.first_name, world.clinician.last_name = "Ada", "Lovelace"
    world.clinician.save()
    v1 = make("a")
    sign(world, v1)
    row = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/reports/").json()[0]
    assert row["requested_by_name"] == "Ada Lovelace" and row["signed_by_name"] == "Ada Lovelace"
    assert row["status_label"] == "signed" and row["requested_at"] and row["signed_at"] and row["released_at"] is None


def test_release_is_explicit_audited_and_only_of_the_current_signed_version(world: World, make: Any) -> None:
    client = client_for(world.clinician)
    v1 = make("a")
    draft = client.post(f"/api/v1/reports/{v1.pk}/release/")
    assert draft.status_code == 409 and draft.json()["code"] == "report_not_signed"
    sign(world, v1)
    released = client.post(f"/api/v1/reports/{v1.pk}/release/")
    assert released.status_code == 200 and released.json()["released_at"]
    assert released.json()["released_by_name"] == world.clinician.get_full_name()
    again = client.post(f"/api/v1/reports/{v1.pk}/release/")
    assert again.status_code == 409 and again.json()["code"] == "report_already_released"
    assert AuditEvent.objects.filter(object_type="report", object_id=str(v1.pk), detail__change="released",
                                     actor_id=world.clinician.pk).exists()
    v2 = make("b")
    sign(world, v2)
    superseded = client.post(f"/api/v1/reports/{v1.pk}/release/")
    assert superseded.status_code == 409 and superseded.json()["code"] == "report_already_released"


@pytest.mark.parametrize("role", ["consultant", "patient_self"])
def test_only_clinicians_release(world: World, make: Any, role: str) -> None:
    v1 = make("a")
    sign(world, v1)
    client_for(world.clinician).post(f"/api/v1/reports/{v1.pk}/release/")  # so that the patient can reach it
    v2 = make("b")
    sign(world, v2)
    assert client_for(world.users()[role]).post(f"/api/v1/reports/{v2.pk}/release/").status_code == (
        403 if role == "consultant" else 404
    )
    v2.refresh_from_db()
    assert v2.released_at is None


@override_settings(REPORT_RELEASE_POLICY="on_sign")
def test_policy_on_sign_releases_at_signing(world: World, make: Any) -> None:
    v1 = make("a")
    body = sign(world, v1).json()
    assert body["released_at"] is not None
    assert AuditEvent.objects.filter(object_id=str(v1.pk), detail__change="released", detail__policy="on_sign").exists()
    assert client_for(world.patient_user).get(f"/api/v1/reports/{v1.pk}/").status_code == 200


def test_a_bad_release_policy_fails_the_system_check() -> None:
    with override_settings(REPORT_RELEASE_POLICY="always"):
        ids = [m.id for m in run_checks()]
    assert "inference.E010" in ids
    assert "inference.E010" not in [m.id for m in run_checks()]


def test_the_patient_sees_released_reports_only_in_the_patient_version(world: World, make: Any) -> None:
    patient = client_for(world.patient_user)
    v1 = make("a")
    urls = [f"/api/v1/reports/{v1.pk}/", *(f"/api/v1/reports/{v1.pk}/export/{fmt}/" for fmt in ("pdf", "html", "fhir"))]
    assert [patient.get(url).status_code for url in urls] == [404] * 4
    assert patient.get(f"/api/v1/patients/{world.patient.pk}/reports/").json() == []
    sign(world, v1)
    assert [patient.get(url).status_code for url in urls] == [404] * 4  # signed but held
    client_for(world.clinician).post(f"/api/v1/reports/{v1.pk}/release/")
    make("b")  # a later draft stays invisible
    rows = patient.get(f"/api/v1/patients/{world.patient.pk}/reports/").json()
    assert [r["id"] for r in rows] == [v1.pk] and rows[0]["current"] is True
    detail = patient.get(f"/api/v1/reports/{v1.pk}/").json()
    assert detail["schema"] == "cdss.report.patient/1" and "content" not in detail
    text = json.dumps(detail)
    for marker in CLINICAL_ONLY_MARKERS:
        assert marker not in text, marker
    html = patient.get(f"/api/v1/reports/{v1.pk}/export/html/").content.decode()
    fhir = patient.get(f"/api/v1/reports/{v1.pk}/export/fhir/").content.decode()
    assert "Your liver health report" in html and "DiagnosticReport" in fhir
    for marker in CLINICAL_ONLY_MARKERS:
        assert marker not in html and marker not in fhir, marker
    assert patient.get(f"/api/v1/reports/{v1.pk}/export/pdf/").content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(actor_id=world.patient_user.pk, action="export", detail__version_shown="patient").exists()


def test_analyses_are_not_found_for_patients(world: World, make: Any) -> None:
    v1 = make("a")
    patient = client_for(world.patient_user)
    assert patient.get("/api/v1/analyses/").status_code == 404
    assert patient.get(f"/api/v1/analyses/{v1.request_id}/").status_code == 404
    assert client_for(world.clinician).get(f"/api/v1/analyses/{v1.request_id}/").status_code == 200


@pytest.mark.parametrize(("event", "visible"), [
    ({"type": "analysis.progress", "request_id": 1}, False),
    ({"type": "report.ready", "report_id": 1}, False),
    ({"type": "record.changed", "record": "report", "action": "created", "ids": [1]}, False),
    ({"type": "record.changed", "record": "report", "action": "signed", "ids": [1]}, False),
    ({"type": "record.changed", "record": "finding", "action": "decided", "ids": [1]}, False),
    ({"type": "record.changed", "record": "report", "action": "released", "ids": [1]}, True),
    ({"type": "record.changed", "record": "observation", "action": "created", "ids": [1]}, True),
])
def test_patient_sockets_forward_only_what_a_patient_may_see(event: dict[str, Any], visible: bool) -> None:
    from inference.consumers import event_visible_to_patient

    assert event_visible_to_patient(event) is visible


def test_a_draft_whose_version_number_was_just_taken_takes_the_next(world: World, make: Any, monkeypatch: Any) -> None:
    """The report step allocates versions without the patient's report locks: a draft made at
    the same moment retries with the next number instead of failing."""
    from inference.reports import services

    v1 = make("a")
    sign(world, v1)
    numbers = iter([v1.version, v1.version + 1])
    monkeypatch.setattr(services, "_next_version", lambda patient_id: next(numbers))
    response = client_for(world.clinician).post(f"/api/v1/reports/{v1.pk}/amend/", {"text": "x"}, format="json")
    assert response.status_code == 201 and response.json()["version"] == v1.version + 1


def test_patient_version_names_scores_in_words() -> None:
    from inference.reports.patient_view import _score_lines

    lines = _score_lines({"scores": {
        "albi": {"computable": True, "value": -1.82, "category": "2"},
        "fib4": {"computable": True, "value": 4.42, "category": "high"},
        "meld": {"computable": False, "missing": ["INR"]},
        "some_model_key": {"computable": True, "value": 1, "category": "x"},
    }})
    assert lines == [
        {"name": "ALBI grade", "value": "-1.82", "category": "grade 2", "about": "how well the liver is working"},
        {"name": "FIB-4", "value": "4.42", "category": "high", "about": "the likelihood of scarring of the liver"},
    ]
