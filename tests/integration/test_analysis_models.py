"""The real imaging models through the whole pipeline, on the repository's demo images.

The demo studies are stored in the test PACS, the analysis fetches them back by WADO-RS, runs
the committed model artefacts, writes the SEG back and fuses everything into one report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from imaging.demo import demo_imaging_load
from imaging.models import ImagingSeries
from inference.analysis.services import analysis_request_create
from inference.models import AnalysisRequest, AnalysisStatus, Report
from patients.models import Patient
from tests.imaging.conftest import Orthanc
from tests.inference.pipeline_helpers import InlineBroker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db: Any) -> Iterator[dict[str, Any]]:
    call_command("demo_seed", verbosity=0)
    loaded = demo_imaging_load(say=lambda line: None)
    pacs = Orthanc()
    pacs.created.update(item.study_instance_uid for item in loaded)
    try:
        yield {item.key: item for item in loaded}
    finally:
        pacs.cleanup()


def run(patient: Patient, series_uid: str, model: str) -> AnalysisRequest:
    from cdss.accounts.models import User

    broker = InlineBroker()
    analysis, _, _ = analysis_request_create(
        actor=User.objects.get(username="clinician"), patient=patient, series_uids=[series_uid],
        model_keys=[model], idempotency_key=f"{model}-{series_uid}", dispatch=broker,
    )
    broker.drain()
    analysis.refresh_from_db()
    return analysis


def series_of(mrn: str, modality: str) -> tuple[Patient, str]:
    series = ImagingSeries.objects.filter(study__patient__mrn=mrn, modality=modality).order_by("pk").first()
    assert series is not None, f"no {modality} series for {mrn}"
    return series.study.patient, series.series_instance_uid


def test_chest_xray_model_abstains_for_an_adult(demo: dict[str, Any]) -> None:
    # The demo radiographs are children's (Kermany et al.); DEMO-0002 is an adult.
    patient, series_uid = series_of("DEMO-0002", "DX")
    analysis = run(patient, series_uid, "cxr_pneumonia")
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, analysis.error_message)
    finding = Report.objects.get(request=analysis).content["imaging_findings"][0]
    assert finding["abstention"]["code"] == "age_outside_population"
    assert "children aged 1-5" in finding["abstention"]["reason"]
    assert finding["findings"] == {} and finding["model"]["key"] == "cxr_pneumonia"


def test_chest_xray_model_report(demo: dict[str, Any]) -> None:
    # A child of four on the study date (2025-04-12): inside the model's intended population.
    patient, series_uid = series_of("DEMO-0005", "DX")
    analysis = run(patient, series_uid, "cxr_pneumonia")
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, analysis.error_message)
    report = Report.objects.get(request=analysis)
    model = report.content["models"][0]
    assert model["key"] == "cxr_pneumonia" and len(model["weights_sha256"]) == 64
    prediction = report.content["imaging_findings"][0]["findings"]["predictions"][0]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["heatmap_ref"].startswith("data:image/png;base64,")
    assert "abstention" not in report.content["imaging_findings"][0]
    assert report.content["inputs"]["imaging"][0]["sop_instance_uids"]


def test_liver_ct_model_report_and_seg(demo: dict[str, Any]) -> None:
    patient, series_uid = series_of("DEMO-0001", "CT")
    analysis = run(patient, series_uid, "liver_ct_seg")
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, analysis.error_message)
    finding = Report.objects.get(request=analysis).content["imaging_findings"][0]
    assert finding["model"]["key"] == "liver_ct_seg"
    assert finding["findings"]["liver"]["volume"]["unit"] == "mL"
    assert finding["findings"]["liver"]["volume"]["value"] >= 0
    seg_uid = finding["seg"]["series_uid"]
    # The SEG went back to the PACS and references the source study.
    records = Orthanc().session.get(
        f"{settings.DICOMWEB_URL}/studies/{demo['ct-abdomen'].study_instance_uid}/series",
        params={"SeriesInstanceUID": seg_uid}, headers={"Accept": "application/dicom+json"}, timeout=30,
    ).json()
    assert records and records[0]["00080060"]["Value"] == ["SEG"]


def test_wrong_modality_fails_with_a_code(demo: dict[str, Any]) -> None:
    # An adult's radiograph: old enough for the liver model, so the modality check decides.
    patient, series_uid = series_of("DEMO-0002", "DX")
    analysis = run(patient, series_uid, "liver_ct_seg")
    assert analysis.status == AnalysisStatus.FAILED and analysis.error_code == "modality_mismatch"
    assert not Report.objects.filter(request=analysis).exists()
