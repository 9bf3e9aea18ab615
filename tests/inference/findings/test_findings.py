"""Finding lifecycle: model findings are proposals; only accepted, edited and clinician-entered
findings feed staging; each decision makes a new draft report version; a report made from
proposed findings cannot be signed."""

from __future__ import annotations

from typing import Any

import pytest

from cdss.audit.models import AuditEvent
from inference.analysis.services import analysis_request_create
from inference.analysis.steps import step_run
from inference.findings.services import findings_sync_from_imaging
from inference.models import FindingDecision, ImagingFinding, Report, ReportStatus, StepKind
from tests.conftest import World, client_for
from tests.inference.pipeline_helpers import InlineBroker

HU = "[hnsf'U]"
SEGMENTATION = {
    "kind": "segmentation", "series_uid": "1.2.826.0.1.3680043.8.498.1", "study_uid": "1.2.3",
    "model": {"key": "liver_ct_seg", "version": "1.1.0", "weights_sha256": "ab" * 32},
    "findings": {
        "liver": {"present": True, "volume": {"value": 1500.0, "unit": "mL"}, "mean_density": {"value": 60.0, "unit": HU}},
        "lesion_count": 2,
        "lesions": [
            {"id": 1, "volume": {"value": 134.8, "unit": "mL"}, "longest_axial_diameter": {"value": 80.0, "unit": "mm"},
             "mean_density": {"value": 20.0, "unit": HU}, "slice_range": [0, 19], "confidence": 0.51},
            {"id": 2, "volume": {"value": 2.1, "unit": "mL"}, "longest_axial_diameter": {"value": 18.0, "unit": "mm"},
             "mean_density": {"value": 25.0, "unit": HU}, "slice_range": [8, 10], "confidence": 0.93},
        ],
    },
}


def _runner(step: Any) -> dict[str, Any]:
    if step.kind == StepKind.IMAGING:
        return SEGMENTATION
    return step_run(step)


@pytest.fixture
def analysed(world: World, django_capture_on_commit_callbacks: Any) -> Report:
    broker = InlineBroker(runner=_runner)
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
                                idempotency_key="ct", dispatch=broker)
    broker.drain()
    return Report.objects.get(request__idempotency_key="ct")


def _lesion(report: Report, number: int) -> ImagingFinding:
    return ImagingFinding.objects.get(analysis_id=report.analysis_id, source_ref=f"lesion:{number}")


def _decide(world: World, report: Report, *decisions: dict[str, Any], user: Any = None) -> Any:
    return client_for(user or world.clinician).post(
        f"/api/v1/analyses/{report.analysis_id}/findings/decide/", {"decisions": list(decisions)}, format="json")


def test_model_findings_are_stored_as_proposals_that_count_for_nothing(world: World, analysed: Report) -> None:
    findings = ImagingFinding.objects.filter(analysis_id=analysed.analysis_id)
    assert sorted(f.kind for f in findings) == ["lesion", "lesion", "segmentation"]
    assert {f.status for f in findings} == {"proposed"}
    lesion = _lesion(analysed, 1)
    assert lesion.proposed["volume_ml"] == 134.8 and lesion.values == lesion.proposed
    review = analysed.content["findings_review"]
    assert review["state"] == "proposed" and review["proposed"] == 3 and "cannot be signed" in review["notice"]
    # Proposed lesions feed no staging: no tumour count, a gap that says why.
    assert analysed.content["staging"] == {"findings_awaiting_review": 3}
    assert any(g["id"] == "findings_awaiting_review" for g in analysed.content["gaps"])
    assert not any(r["id"] == "hcc_staging" for r in analysed.content["recommendations"])


def test_a_report_with_proposed_findings_cannot_be_signed(world: World, analysed: Report) -> None:
    client = client_for(world.clinician)
    response = client.post(f"/api/v1/reports/{analysed.pk}/sign/", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "report_findings_undecided"
    assert response.json()["detail"] == {"proposed": 3}
    detail = client.get(f"/api/v1/reports/{analysed.pk}/").json()
    assert detail["findings_pending"] == 3 and detail["sign_blocker"]["code"] == "report_findings_undecided"


def test_decisions_make_a_new_draft_whose_staging_reads_only_accepted_lesions(world: World, analysed: Report) -> None:
    big, small = _lesion(analysed, 1), _lesion(analysed, 2)
    liver = ImagingFinding.objects.get(analysis_id=analysed.analysis_id, kind="segmentation")
    response = _decide(world, analysed,
                       {"finding": big.pk, "status": "rejected", "reason": "Spans all slices: partial-volume artefact."},
                       {"finding": small.pk, "status": "accepted"},
                       {"finding": liver.pk, "status": "accepted"})
    assert response.status_code == 200, response.json()
    new = Report.objects.get(pk=response.json()["report"]["id"])
    assert new.status == ReportStatus.DRAFT and new.derived_from_id == analysed.pk and new.analysis_id == analysed.analysis_id
    assert new.content["derived_from"] == {"report_id": analysed.pk, "version": analysed.version, "reason": "finding_decision"}
    assert new.content["staging"]["tumour_count"] == 1
    assert new.content["staging"]["tumour_source"] == "CT findings reviewed by a clinician"
    assert new.content["findings_review"]["state"] == "reviewed" and new.content["findings_review"]["rejected"] == 1
    rejected = next(f for f in new.content["findings_review"]["findings"] if f["id"] == big.pk)
    assert rejected["status"] == "rejected" and rejected["decided_by"] and rejected["reason"].startswith("Spans")
    # The original draft stays as it was and can no longer be signed; the new one can.
    analysed.refresh_from_db()
    assert analysed.content["findings_review"]["proposed"] == 3
    client = client_for(world.clinician)
    assert client.post(f"/api/v1/reports/{new.pk}/sign/", {}, format="json").status_code == 200
    assert AuditEvent.objects.filter(object_type="imaging_finding", object_id=str(big.pk), detail__decision="rejected").exists()


def test_an_edit_corrects_a_measurement_with_a_reason_and_keeps_the_proposal(world: World, analysed: Report) -> None:
    small = _lesion(analysed, 2)
    no_reason = _decide(world, analysed, {"finding": small.pk, "status": "edited", "values": {"longest_axial_diameter_mm": 32}})
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "finding_decision_invalid"
    response = _decide(world, analysed, {"finding": small.pk, "status": "edited", "reason": "Measured on the portal phase.",
                                         "values": {"longest_axial_diameter_mm": 32, "volume_ml": 9.5}})
    assert response.status_code == 200, response.json()
    small.refresh_from_db()
    assert small.status == "edited" and small.values["longest_axial_diameter_mm"] == 32.0
    assert small.proposed["longest_axial_diameter_mm"] == 18.0
    decision = FindingDecision.objects.get(finding=small)
    assert decision.decided_by == world.clinician and decision.reason == "Measured on the portal phase."
    evidence = next(r for r in Report.objects.get(pk=response.json()["report"]["id"]).content["recommendations"]
                    if r["id"] == "hcc_staging")["evidence"]
    assert evidence[0]["longest_axial_diameter_mm"] == 32.0


@pytest.mark.parametrize("body", [
    {"status": "rejected"},  # no reason
    {"status": "edited", "reason": "x", "label": "tumour_maybe"},  # unknown label
    {"status": "edited", "reason": "x", "values": {"mean_density_hu": 30}},  # not correctable
    {"status": "edited", "reason": "x", "values": {"volume_ml": -1}},
    {"status": "accepted", "label": "cyst"},  # only an edit changes the label
])
def test_invalid_decisions_change_nothing(world: World, analysed: Report, body: dict[str, Any]) -> None:
    small = _lesion(analysed, 2)
    response = _decide(world, analysed, {"finding": small.pk, **body})
    assert response.status_code == 400
    small.refresh_from_db()
    assert small.status == "proposed" and Report.objects.filter(patient=world.patient).count() == 1


def test_a_lesion_relabelled_benign_is_not_staged(world: World, analysed: Report) -> None:
    big, small = _lesion(analysed, 1), _lesion(analysed, 2)
    response = _decide(world, analysed, {"finding": big.pk, "status": "edited", "label": "cyst", "reason": "Simple cyst on MRI."},
                       {"finding": small.pk, "status": "accepted"})
    staging = Report.objects.get(pk=response.json()["report"]["id"]).content["staging"]
    assert staging["tumour_count"] == 1 and staging["findings_awaiting_review"] == 1


def test_a_clinician_entered_lesion_counts_at_once(world: World, analysed: Report) -> None:
    client = client_for(world.clinician)
    response = client.post(f"/api/v1/analyses/{analysed.analysis_id}/findings/",
                           {"label": "suspected_hcc", "values": {"longest_axial_diameter_mm": 25}, "reason": "Seen on arterial phase."},
                           format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["finding"]["source"] == "clinician" and response.json()["finding"]["status"] == "accepted"
    content = Report.objects.get(pk=response.json()["report"]["id"]).content
    assert content["staging"]["tumour_count"] == 1 and content["findings_review"]["entered"] == 1


def test_a_decision_after_signing_makes_a_draft_beside_the_signed_version(world: World, analysed: Report) -> None:
    ids = ImagingFinding.objects.filter(analysis_id=analysed.analysis_id).values_list("pk", flat=True)
    first = _decide(world, analysed, *({"finding": pk, "status": "accepted"} for pk in ids)).json()["report"]
    client = client_for(world.clinician)
    client.post(f"/api/v1/reports/{first['id']}/sign/", {}, format="json")
    later = _decide(world, analysed, {"finding": _lesion(analysed, 1).pk, "status": "rejected", "reason": "Artefact."}).json()
    signed = Report.objects.get(pk=first["id"])
    assert signed.status == ReportStatus.FINAL
    assert later["report"]["status"] == "draft" and later["report"]["staging"]["tumour_count"] == 1


def test_findings_are_listed_for_the_team_and_hidden_from_patients(world: World, analysed: Report) -> None:
    clinician, patient = client_for(world.clinician), client_for(world.patient_user)
    for url in (f"/api/v1/analyses/{analysed.analysis_id}/findings/", f"/api/v1/reports/{analysed.pk}/findings/",
                f"/api/v1/patients/{world.patient.pk}/imaging-findings/"):
        assert len(clinician.get(url).json()) == 3, url
        assert patient.get(url).status_code == 404, url
    finding = _lesion(analysed, 1)
    assert patient.get(f"/api/v1/findings/{finding.pk}/").status_code == 404
    consultant = client_for(world.consultant).post(f"/api/v1/findings/{finding.pk}/decide/", {"status": "accepted"}, format="json")
    assert consultant.status_code == 403
    assert client_for(world.patient_user).post(f"/api/v1/findings/{finding.pk}/decide/", {"status": "accepted"}, format="json").status_code == 404
    one = clinician.post(f"/api/v1/findings/{finding.pk}/decide/", {"status": "accepted"}, format="json").json()
    assert one["finding"]["status"] == "accepted"
    history = clinician.get(f"/api/v1/findings/{finding.pk}/").json()["decisions"]
    assert [d["status"] for d in history] == ["accepted"]


def test_storing_findings_again_finds_the_same_rows(world: World, analysed: Report) -> None:
    assert analysed.analysis is not None
    again = findings_sync_from_imaging(analysis=analysed.analysis, imaging=[("imaging:noop:", SEGMENTATION)])
    assert len(again) == 3 and ImagingFinding.objects.count() == 3
