"""A report with liver CT findings made from the synthetic phantom, and an in-memory PACS.

The imaging step is replaced by the phantom's true labels measured with the model's own
post-processing (``findings_compute``): the findings, slice ranges, centroids and SEG look
exactly as the liver model writes them, without running the network.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from django.test import TestCase
from pydicom.dataset import Dataset

from imaging.models import ImagingSeries, ImagingStudy, LinkSource
from inference.analysis.services import analysis_request_create
from inference.analysis.steps import step_run
from inference.models import AnalysisStep, Report
from inference.registry import model_card_get
from inference.runtime.postprocessing import findings_compute
from tests.browser.phantom import LESION, LIVER, PhantomStudy, ct_phantom, seg_for_phantom
from tests.inference.pipeline_helpers import InlineBroker

SERIES_DESCRIPTION = "Portal venous 2.5 mm"
STUDY_DESCRIPTION = "CT abdomen (synthetic phantom)"


class MemoryPacs:
    """``key_images.InstanceFetch`` over datasets held in memory."""

    def __init__(self, datasets: list[Dataset]) -> None:
        self.instances = {(str(d.StudyInstanceUID), str(d.SeriesInstanceUID), str(d.SOPInstanceUID)): d for d in datasets}
        self.requests: list[str] = []

    def __call__(self, study_uid: str, series_uid: str, instance_uid: str) -> Dataset:
        self.requests.append(instance_uid)
        return self.instances[(study_uid, series_uid, instance_uid)]


def phantom_with_seg(*, patient_id: str, size: int = 64, slices: int = 24) -> tuple[PhantomStudy, Dataset]:
    phantom = ct_phantom(patient_id=patient_id, size=size, slices=slices)
    return phantom, seg_for_phantom(phantom, size=size)


def imaging_result(phantom: PhantomStudy, seg: Dataset) -> dict[str, Any]:
    """What the imaging step of the liver model returns for the phantom."""
    volume = np.stack([ds.pixel_array for ds in phantom.datasets]).astype(np.float32)
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[volume == LIVER] = 1
    labels[volume == LESION] = 2
    spacing = (float(phantom.datasets[0].SliceThickness), *(float(v) for v in phantom.datasets[0].PixelSpacing))
    findings = findings_compute(labels=labels, volume_hu=volume, spacing=spacing,  # type: ignore[arg-type]
                                lesion_prob_u8=(labels == 2).astype(np.uint8) * 220,
                                lesion_votes=(labels == 2).astype(np.uint8) * 3, n_tta=3)
    card = model_card_get(key="liver_ct_seg")
    model = {"key": card.key, "version": card.version, "weights_sha256": card.weights_sha256}
    findings["model"] = model
    return {
        "kind": "segmentation", "series_uid": phantom.series_uid, "study_uid": phantom.study_uid,
        "sop_instance_uids": [str(ds.SOPInstanceUID) for ds in phantom.datasets],  # slice order, feet first
        "model": model, "findings": findings,
        "seg": {"series_uid": str(seg.SeriesInstanceUID), "sop_instance_uid": str(seg.SOPInstanceUID)},
    }


def phantom_link(*, patient: Any, phantom: PhantomStudy) -> None:
    study = ImagingStudy.objects.create(
        patient=patient, study_instance_uid=phantom.study_uid, study_date=dt.date(2025, 1, 2),
        description=STUDY_DESCRIPTION, modalities="CT", number_of_series=1, number_of_instances=len(phantom.datasets),
        dicom_patient_id=patient.mrn, link_source=LinkSource.UPLOAD,
    )
    ImagingSeries.objects.create(
        study=study, series_instance_uid=phantom.series_uid, modality="CT", description=SERIES_DESCRIPTION,
        series_number=2, series_date=dt.date(2025, 1, 2), number_of_instances=len(phantom.datasets),
    )


def liver_report(*, clinician: Any, patient: Any, phantom: PhantomStudy, seg: Dataset, key: str = "liver") -> Report:
    """Run the analysis workflow in-process with the phantom's findings; the report it made."""
    result = imaging_result(phantom, seg)

    def runner(step: AnalysisStep) -> dict[str, Any]:
        return result if step.kind == "imaging" else step_run(step)

    broker = InlineBroker(runner=runner)
    with TestCase.captureOnCommitCallbacks(execute=True):
        analysis, _, _ = analysis_request_create(
            actor=clinician, patient=patient, series_uids=[phantom.series_uid], model_keys=["liver_ct_seg"],
            idempotency_key=f"report-document-{key}", dispatch=broker,
        )
    broker.drain()
    return Report.objects.get(request=analysis)


def liver_report_signed(*, clinician: Any, patient: Any, phantom: PhantomStudy, seg: Dataset, key: str = "liver",
                        comment: str = "") -> Report:
    """The phantom's analysis as a hepatologist leaves it: the lesion accepted as suspected HCC
    with its diameter corrected, the liver outline accepted, then the recomputed version signed."""
    from inference.findings.services import Decision, findings_decide
    from inference.models import ImagingFinding
    from inference.reports.services import report_sign

    first = liver_report(clinician=clinician, patient=patient, phantom=phantom, seg=seg, key=key)
    analysis = first.request
    assert analysis is not None
    decisions = []
    for finding in ImagingFinding.objects.filter(analysis=analysis).order_by("pk"):
        if finding.kind == "lesion":
            diameter = float(finding.values.get("longest_axial_diameter_mm") or 6.0)
            decisions.append(Decision(finding.pk, "edited", reason="re-measured on the portal venous phase",
                                      label="suspected_hcc", values={"longest_axial_diameter_mm": round(diameter + 1.0, 1)}))
        else:
            decisions.append(Decision(finding.pk, "accepted"))
    with TestCase.captureOnCommitCallbacks(execute=True):
        _findings, draft = findings_decide(actor=clinician, analysis=analysis, decisions=decisions)
        assert draft is not None
        return report_sign(actor=clinician, report=draft, comment=comment)
