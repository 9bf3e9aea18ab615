from __future__ import annotations

from typing import Any

import pytest

from inference.analysis.services import analysis_request_create
from inference.models import Report, ReportImmutableError, ReportStatus
from inference.reports.exports import report_fhir_bundle
from inference.reports.services import report_verify
from tests.conftest import World, client_for
from tests.inference.pipeline_helpers import InlineBroker


@pytest.fixture
def report(world: World, django_capture_on_commit_callbacks: Any) -> Report:
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
                                idempotency_key="r1", dispatch=broker)
    broker.drain()
    return Report.objects.get()


def test_content_is_immutable_and_tamper_evident(report: Report) -> None:
    report.content = {**report.content, "recommendations": [{"id": "forged"}]}
    with pytest.raises(ReportImmutableError):
        report.save()
    # A write that bypasses the model (raw SQL, a restored backup) is caught by the hash.
    Report.objects.filter(pk=report.pk).update(content={**report.content, "scores": {}})
    report.refresh_from_db()
    assert not report_verify(report)


def test_sign_off_with_comment(world: World, report: Report) -> None:
    response = client_for(world.clinician).post(f"/api/v1/reports/{report.pk}/sign/", {"comment": "Agree; refer to MDT."}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "final" and body["sign_comment"] == "Agree; refer to MDT." and body["integrity_ok"]
    again = client_for(world.clinician).post(f"/api/v1/reports/{report.pk}/sign/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "report_already_signed"


# A patient never sees a draft: the same 404 as for a missing report.
@pytest.mark.parametrize(("role", "status"), [("consultant", 403), ("patient_self", 404), ("other_clinician", 404), ("patient_other", 404)])
def test_only_care_team_clinicians_sign(world: World, report: Report, role: str, status: int) -> None:
    response = client_for(world.users()[role]).post(f"/api/v1/reports/{report.pk}/sign/", {}, format="json")
    assert response.status_code == status
    report.refresh_from_db()
    assert report.status == ReportStatus.DRAFT


def test_amendment_is_a_draft_beside_the_signed_version_until_signed(world: World, report: Report) -> None:
    client = client_for(world.clinician)
    client.post(f"/api/v1/reports/{report.pk}/sign/", {}, format="json")
    response = client.post(f"/api/v1/reports/{report.pk}/amend/", {"text": "AFP result received."}, format="json")
    assert response.status_code == 201
    new = response.json()
    assert new["version"] == 2 and new["amends"] == report.pk and new["status"] == "draft"
    assert new["supersedes"] is None and new["content"]["amendment"]["of_report_id"] == report.pk
    # The draft displaces nothing: the signed version stays current.
    report.refresh_from_db()
    assert report.status == ReportStatus.FINAL and report_verify(report)
    versions = client.get(f"/api/v1/patients/{world.patient.pk}/reports/").json()
    assert [(v["version"], v["status"], v["current"], v["superseded_by"], v["latest"]) for v in versions] == [
        (2, "draft", False, None, True), (1, "final", True, None, False)
    ]
    signed = client.post(f"/api/v1/reports/{new['id']}/sign/", {}, format="json").json()
    assert signed["status"] == "final" and signed["supersedes"] == report.pk
    report.refresh_from_db()
    assert report.status == ReportStatus.AMENDED and report_verify(report)
    assert client.get(f"/api/v1/reports/{report.pk}/").json()["superseded_by"] == new["id"]


def test_exports(world: World, report: Report) -> None:
    client = client_for(world.clinician)
    pdf = client.get(f"/api/v1/reports/{report.pk}/export/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    html = client.get(f"/api/v1/reports/{report.pk}/export/html/")
    assert b"does not replace" in html.content and world.patient.mrn.encode() in html.content
    fhir = client.get(f"/api/v1/reports/{report.pk}/export/fhir/").json()
    kinds = [entry["resource"]["resourceType"] for entry in fhir["entry"]]
    assert kinds[:2] == ["DiagnosticReport", "RiskAssessment"]
    assert client.get(f"/api/v1/reports/{report.pk}/export/docx/").status_code == 404


def test_fhir_bundle_validates_and_carries_the_hash(report: Report) -> None:
    from fhir.resources.R4B.bundle import Bundle

    bundle = report_fhir_bundle(report)
    Bundle.model_validate(bundle)
    diagnostic = bundle["entry"][0]["resource"]
    assert diagnostic["identifier"][0]["value"] == report.content_sha256
    assert diagnostic["status"] == "preliminary"


def test_report_of_invisible_patient_is_not_found(world: World, report: Report) -> None:
    for role in ("other_clinician", "patient_other", "patient_self"):
        assert client_for(world.users()[role]).get(f"/api/v1/reports/{report.pk}/").status_code == 404
    assert client_for(world.consultant).get(f"/api/v1/reports/{report.pk}/").status_code == 200


def test_analysis_api_is_idempotent(world: World) -> None:
    client = client_for(world.clinician)
    body = {"patient": world.patient.pk, "models": ["noop"], "idempotency_key": "same-key"}
    first = client.post("/api/v1/analyses/", body, format="json")
    second = client.post("/api/v1/analyses/", body, format="json")
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert [s["key"] for s in first.json()["steps"]] == ["imaging:noop:", "risk", "fusion", "report"]


def test_analysis_api_rejects_unknown_model(world: World) -> None:
    response = client_for(world.clinician).post(
        "/api/v1/analyses/", {"patient": world.patient.pk, "models": ["nope"], "idempotency_key": "x"}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "unknown_model"


def test_report_changes_are_announced_like_every_record_change(
    world: World, report: Report, django_capture_on_commit_callbacks: Any
) -> None:
    """One payload shape for every ``record.changed``: the record's name, the action, the ids."""
    import asyncio

    from channels.layers import get_channel_layer

    from inference.events import patient_group

    layer = get_channel_layer()
    assert layer is not None

    async def subscribe() -> str:
        channel = await layer.new_channel()
        await layer.group_add(patient_group(world.patient.pk), channel)
        return channel

    async def receive(channel: str) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard(patient_group(world.patient.pk), channel)

    loop = asyncio.new_event_loop()
    try:
        channel = loop.run_until_complete(subscribe())
        client = client_for(world.clinician)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/api/v1/reports/{report.pk}/sign/", {}, format="json")
        event = loop.run_until_complete(receive(channel))["event"]
    finally:
        loop.close()
    assert event == {"type": "record.changed", "patient_id": world.patient.pk, "record": "report",
                     "action": "signed", "ids": [report.pk]}


def test_a_second_delivery_of_the_report_step_returns_the_first_report(world: World, report: Report) -> None:
    from inference.reports.services import report_create_for_request

    assert report.request is not None
    again = report_create_for_request(analysis=report.request, content={"schema": "cdss.report/1", "other": True})
    assert again.pk == report.pk and again.content == report.content
    assert Report.objects.filter(request=report.request).count() == 1


def test_the_next_request_of_the_patient_gets_the_next_version(
    world: World, report: Report, django_capture_on_commit_callbacks: Any
) -> None:
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
                                idempotency_key="r2", dispatch=broker)
    broker.drain()
    versions = sorted(Report.objects.filter(patient=world.patient).values_list("version", flat=True))
    assert versions == [report.version, report.version + 1]
