"""brain_mri_seg through the whole analysis pipeline: a synthetic FLAIR + T1c study uploaded to the
test PACS, the analysis run by a real Celery worker (the FLAIR chosen, the T1c found by description),
the SEG stored back in the PACS, the tumour proposed as a finding, accepted, and the report redrafted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from imaging.services import imaging_upload, upload_sources_from_paths
from inference.analysis.services import analysis_request_create
from inference.findings.services import Decision, findings_decide
from inference.models import AnalysisRequest, AnalysisStatus, ImagingFinding, Report
from inference.reports.presentation import report_document
from tests.conftest import World, world_build
from tests.imaging.conftest import Orthanc
from tests.inference.brain_fixture import dicom_study
from tests.integration.conftest import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pacs() -> Iterator[Orthanc]:
    orthanc = Orthanc()
    try:
        yield orthanc
    finally:
        orthanc.cleanup()


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


def _finished(analysis: AnalysisRequest, timeout: float) -> AnalysisRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        analysis.refresh_from_db()
        if analysis.status in (AnalysisStatus.SUCCEEDED, AnalysisStatus.FAILED):
            return analysis
        time.sleep(1.0)
    raise AssertionError(f"analysis still {analysis.status} after {timeout} s")


def test_brain_model_report_seg_and_finding(
    celery_worker_process: WorkerProcess, tworld: World, pacs: Orthanc, tmp_path: Path
) -> None:
    study = dicom_study(patient_id=tworld.patient.mrn)
    paths = []
    for n, ds in enumerate(study["flair"] + study["t1c"]):
        path = tmp_path / f"{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    pacs.created.add(study["study_uid"])
    report = imaging_upload(actor=tworld.clinician, patient=tworld.patient, sources=upload_sources_from_paths(paths))
    assert report.problems == 0 and report.stored == len(paths), report.as_dict()["files"][:3]

    analysis, _, _ = analysis_request_create(
        actor=tworld.clinician, patient=tworld.patient, series_uids=[study["flair_series_uid"]],
        model_keys=["brain_mri_seg"], idempotency_key="brain-pipeline",
    )
    analysis = _finished(analysis, 400)
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, analysis.error_message)

    content = Report.objects.filter(request=analysis).order_by("version").first().content  # type: ignore[union-attr]
    (result,) = content["imaging_findings"]
    assert result["model"]["key"] == "brain_mri_seg" and len(result["model"]["weights_sha256"]) == 64
    findings = result["findings"]
    assert findings["series"]["FLAIR"] == study["flair_series_uid"]
    assert findings["series"]["T1c"] == study["t1c_series_uid"]
    for region in ("whole_tumour", "tumour_core", "enhancing_tumour"):
        assert findings["regions"][region]["volume"]["unit"] == "mL"
    assert findings["disclaimer"] == "supports, not replaces, clinical judgement"

    # The SEG went back to the PACS, in the source study, on the FLAIR's frames.
    records = pacs.session.get(
        f"{settings.DICOMWEB_URL}/studies/{study['study_uid']}/series",
        params={"SeriesInstanceUID": result["seg"]["series_uid"]}, headers={"Accept": "application/dicom+json"}, timeout=30,
    ).json()
    assert records and records[0]["00080060"]["Value"] == ["SEG"]

    # The synthetic tumour is found; it waits as a proposed finding, then a clinician accepts it.
    assert findings["tumour_detected"] is True
    finding = ImagingFinding.objects.get(analysis=analysis, label="brain_tumour")
    assert finding.status == "proposed" and finding.model_key == "brain_mri_seg"
    assert finding.values["volume_ml"] == findings["regions"]["whole_tumour"]["volume"]["value"]
    assert finding.values["hemisphere"] == findings["location"]["hemisphere"] == "left"
    decided, draft = findings_decide(
        actor=tworld.clinician, analysis=analysis, decisions=[Decision(finding_id=finding.pk, status="accepted")]
    )
    assert [f.status for f in decided if f.pk == finding.pk] == ["accepted"]
    assert draft is not None and draft.version > 1
    review = draft.content["findings_review"]
    assert review["accepted"] == 1 and review["proposed"] == 0
    # The report document (HTML/PDF) names the model and shows the volumes, the side and the review.
    (block,) = report_document(draft).imaging
    assert block.model.startswith("Brain tumour (glioma) MRI segmentation")
    rows = {row.label: row.value for row in block.summary}
    assert rows["Whole tumour volume"].endswith("mL") and rows["Tumour side"] == "left hemisphere"
    assert rows["Tumour outline"].startswith("accepted")
