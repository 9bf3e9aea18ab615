"""lung_nodule_ct through the whole analysis pipeline on a synthetic chest slab (generated here,
no shared data): the series goes into the test PACS, the analysis fetches it back, proposes the
nodule, stores its SEG in the PACS and reports; accepting the finding puts the nodule in the
record, and the redrafted report scores it (Fleischner) naming that nodule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from pydicom.dataset import Dataset

from imaging.services import imaging_study_sync
from inference.analysis.services import analysis_request_create
from inference.findings.services import Decision, findings_decide
from inference.models import AnalysisStatus, ImagingFinding, Report
from patients.models import LungNodule, LungNoduleAssessment, Patient
from tests.imaging.conftest import Orthanc
from tests.inference.data.synthetic import ct_series_datasets
from tests.inference.lung_nodule_phantom import SPACING, chest_hu
from tests.inference.pipeline_helpers import InlineBroker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chest(transactional_db: Any) -> Iterator[dict[str, Any]]:
    from cdss.accounts.models import User

    call_command("demo_seed", verbosity=0)
    patient = Patient.objects.get(mrn="DEMO-0001")
    datasets = ct_series_datasets(chest_hu(), spacing=SPACING)
    for ds in datasets:
        ds.PatientID, ds.BodyPartExamined = patient.mrn, "CHEST"
        ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    pacs = Orthanc()
    pacs.stow(list[Dataset](datasets))
    clinician = User.objects.get(username="clinician")
    imaging_study_sync(actor=clinician, patient=patient)
    LungNoduleAssessment.objects.create(patient=patient, assessed_on=dt.date.today(), nodule_context="incidental",
                                        nodule_patient_risk="low")
    try:
        yield {"patient": patient, "clinician": clinician, "study_uid": str(datasets[0].StudyInstanceUID),
               "series_uid": str(datasets[0].SeriesInstanceUID)}
    finally:
        pacs.cleanup()


def test_nodule_model_report_seg_and_record(chest: dict[str, Any]) -> None:
    broker = InlineBroker()
    analysis, _, _ = analysis_request_create(
        actor=chest["clinician"], patient=chest["patient"], series_uids=[chest["series_uid"]],
        model_keys=["lung_nodule_ct"], idempotency_key="lung-nodule-phantom", dispatch=broker,
    )
    broker.drain()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED, (analysis.error_code, analysis.error_message)
    report = Report.objects.get(request=analysis)
    result = report.content["imaging_findings"][0]
    assert result["kind"] == "detection" and result["model"]["key"] == "lung_nodule_ct"
    assert "supports, not replaces" in result["model"]["notice"]
    (nodule,) = result["findings"]["nodules"]
    assert 9.5 <= nodule["long_axis_mm"] <= 12.5 and nodule["type"] == "solid"
    # The SEG went back to the PACS beside the source series, one segment per nodule.
    records = Orthanc().session.get(
        f"{settings.DICOMWEB_URL}/studies/{chest['study_uid']}/series",
        params={"SeriesInstanceUID": result["seg"]["series_uid"]}, headers={"Accept": "application/dicom+json"}, timeout=30,
    ).json()
    assert records and records[0]["00080060"]["Value"] == ["SEG"]
    # The finding is a proposal until a clinician accepts it; then it is in the record and scored.
    finding = ImagingFinding.objects.get(analysis=analysis, kind="nodule")
    assert finding.status == "proposed" and report.content["findings_review"]["proposed"] == 1
    _, draft = findings_decide(actor=chest["clinician"], analysis=analysis,
                               decisions=[Decision(finding_id=finding.pk, status="accepted")])
    record = LungNodule.objects.get(patient=chest["patient"], finding_id=finding.pk)
    assert record.series_uid == chest["series_uid"] and record.model_key == "lung_nodule_ct"
    assert draft is not None
    fleischner = draft.content["lung_nodules"]["scores"]["fleischner"]
    assert fleischner["computable"] and fleischner["nodule"]["record_id"] == record.pk
    assert fleischner["category"] == "consider_ct_3_months_pet_ct_or_tissue_sampling"  # single solid > 8 mm, low risk
