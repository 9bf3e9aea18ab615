"""Lung nodules through the finding lifecycle: proposed by the model, accepted into the record,
scored from the record (Lung-RADS, Brock, Fleischner) in the redrafted report; rejected ones leave."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from inference.analysis.services import analysis_request_create
from inference.analysis.steps import step_run
from inference.models import ImagingFinding, Report, StepKind
from inference.reports.presentation import report_document
from patients.models import LungNodule
from tests.conftest import World, client_for
from tests.inference.pipeline_helpers import InlineBroker

pytestmark = pytest.mark.django_db

MODEL = {"key": "lung_nodule_ct", "version": "1.0.0", "weights_sha256": "cd" * 32, "task": "detection"}
DETECTION = {
    "kind": "detection", "series_uid": "1.2.826.0.1.3680043.8.498.7", "study_uid": "1.2.3",
    "model": MODEL,
    "findings": {
        "nodule_count": 2,
        "nodules": [
            {"id": 1, "centre_lps_mm": [-60.5, 20.0, -150.0], "long_axis_mm": 12.4, "short_axis_mm": 10.2,
             "mean_diameter_mm": 11.3, "volume_mm3": 700.0, "type": "solid", "mean_hu": 30.0, "calcified": False,
             "upper_lobe": None, "confidence": 0.91, "key_slice": 5, "slice_range": [3, 8]},
            {"id": 2, "centre_lps_mm": [70.0, 10.0, -140.0], "long_axis_mm": 7.0, "short_axis_mm": 5.0,
             "mean_diameter_mm": 6.0, "volume_mm3": 90.0, "type": "ground-glass", "mean_hu": -560.0, "calcified": False,
             "upper_lobe": None, "confidence": 0.6, "key_slice": 4, "slice_range": [4, 5]},
        ],
    },
}


def _runner(step: Any) -> dict[str, Any]:
    if step.kind == StepKind.IMAGING:
        return DETECTION
    return step_run(step)


@pytest.fixture
def analysed(world: World, django_capture_on_commit_callbacks: Any) -> Report:
    world.patient.birth_date = world.patient.birth_date.replace(year=1958)
    world.patient.save()
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    stated = client_for(world.clinician).post(f"/api/v1/patients/{world.patient.pk}/lung-nodule-assessments/", {
        "assessed_on": yesterday, "nodule_context": "incidental", "nodule_patient_risk": "high",
        "family_history_lung_cancer": True, "emphysema": False,
    }, format="json")
    assert stated.status_code == 201, stated.content
    broker = InlineBroker(runner=_runner)
    with django_capture_on_commit_callbacks(execute=True):
        analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
                                idempotency_key="chest", dispatch=broker)
    broker.drain()
    return Report.objects.get(request__idempotency_key="chest")


def _nodule(report: Report, number: int) -> ImagingFinding:
    return ImagingFinding.objects.get(analysis_id=report.analysis_id, source_ref=f"nodule:{number}")


def _decide(world: World, report: Report, *decisions: dict[str, Any]) -> Any:
    return client_for(world.clinician).post(
        f"/api/v1/analyses/{report.analysis_id}/findings/decide/", {"decisions": list(decisions)}, format="json")


def test_detected_nodules_are_proposals_with_the_record_fields(world: World, analysed: Report) -> None:
    first, second = _nodule(analysed, 1), _nodule(analysed, 2)
    assert first.kind == "nodule" and first.status == "proposed" and first.label == "lung_nodule"
    assert first.model_key == "lung_nodule_ct"
    assert first.values["nodule_type"] == "solid" and first.values["long_axis_mm"] == 12.4
    assert first.values["centre_x_mm"] == -60.5 and second.values["nodule_type"] == "non_solid"
    assert not LungNodule.objects.exists()  # proposals are not in the record
    assert analysed.content["lung_nodules"] == {}  # nothing in the record to score yet


def test_accepting_puts_the_nodule_in_the_record_and_the_scores_in_the_report(world: World, analysed: Report) -> None:
    response = _decide(world, analysed,
                       {"finding": _nodule(analysed, 1).pk, "status": "edited", "reason": "remeasured",
                        "values": {"long_axis_mm": 13.0}},
                       {"finding": _nodule(analysed, 2).pk, "status": "rejected", "reason": "vessel"})
    assert response.status_code == 200, response.content
    (record,) = LungNodule.objects.filter(patient=world.patient)
    assert record.finding_id == _nodule(analysed, 1).pk and record.long_axis_mm == 13.0 and record.short_axis_mm == 10.2
    assert record.mean_diameter_mm == 11.6 and record.nodule_type == "solid" and record.model_key == "lung_nodule_ct"
    draft = Report.objects.get(pk=response.json()["report"]["id"])
    assert draft.pk != analysed.pk and draft.analysis_id == analysed.analysis_id
    block = draft.content["lung_nodules"]
    assert [n["record_id"] for n in block["nodules"]] == [record.pk]
    fleischner = block["scores"]["fleischner"]
    assert fleischner["category"] is not None and fleischner["nodule"]["record_id"] == record.pk
    assert block["scores"]["brock"]["computable"] is False  # upper lobe unknown on the scan: Brock says what it lacks
    assert "lung_nodules[0].upper_lobe" in block["scores"]["brock"]["missing"]
    # the report document names the nodule beside the score
    lines = {line.score: line for line in report_document(draft).scores}
    assert f"nodule #{record.pk}: solid, 13 mm" in lines["fleischner"].interpretation
    # a later rejection takes the nodule out of the record again
    again = _decide(world, analysed, {"finding": _nodule(analysed, 1).pk, "status": "rejected", "reason": "artefact"})
    assert again.status_code == 200, again.content
    assert not LungNodule.objects.filter(patient=world.patient).exists()
