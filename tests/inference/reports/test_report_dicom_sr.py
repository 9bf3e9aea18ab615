"""The DICOM SR (TID 1500) of a signed report: built with highdicom, read back with highdicom.

The report is the phantom CT analysis as a hepatologist leaves it (liver accepted, the lesion
accepted as suspected HCC with its diameter corrected); the SR is read back from its bytes and
checked for codes, values, UCUM units, observers, references and the review status.
"""

from __future__ import annotations

import io
from typing import Any

import highdicom as hd
import pydicom
import pytest
from pydicom.sr.codedict import codes

from inference.models import ImagingFinding, Report
from inference.reports.dicom_sr import (
    JUDGEMENT_TEXT,
    SrUnavailable,
    counted_findings,
    sr_documents_build,
    sr_store_for_report,
)
from tests.conftest import World
from tests.inference.report_document_data import (
    MemoryPacs,
    liver_report,
    liver_report_signed,
    phantom_link,
    phantom_with_seg,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(world: World) -> tuple[Report, MemoryPacs]:
    world.clinician.first_name, world.clinician.last_name = "Ada", "Hepato"
    world.clinician.save(update_fields=["first_name", "last_name"])
    phantom, seg = phantom_with_seg(patient_id=world.patient.mrn)
    phantom_link(patient=world.patient, phantom=phantom)
    report = liver_report_signed(clinician=world.clinician, patient=world.patient, phantom=phantom, seg=seg)
    return report, MemoryPacs([*phantom.datasets, seg])


def _reread(document: Any) -> hd.sr.Comprehensive3DSR:
    buffer = io.BytesIO()
    document.save_as(buffer, enforce_file_format=True)
    return hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(io.BytesIO(buffer.getvalue())))


def _measurements(group: Any) -> dict[str, tuple[float, str]]:
    return {m.name.meaning: (float(m.value), m.unit.value) for m in group.get_measurements()}


def test_sr_holds_the_reviewed_measurements_with_ucum_units_observers_and_references(
    world: World, signed: tuple[Report, MemoryPacs],
) -> None:
    report, pacs = signed
    [document] = sr_documents_build(report, metadata=pacs)
    sr = _reread(document)
    phantom_ct = next(iter(pacs.instances.values()))
    # Same patient and study as the images; verified by the signer; complete and final.
    assert sr.StudyInstanceUID == phantom_ct.StudyInstanceUID and sr.PatientID == world.patient.mrn
    assert sr.VerificationFlag == "VERIFIED" and sr.CompletionFlag == "COMPLETE" and sr.PreliminaryFlag == "FINAL"
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Hepato^Ada"
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR

    content = hd.sr.MeasurementReport.from_sequence([sr])
    assert content[0].ContentTemplateSequence[0].TemplateIdentifier == "1500"
    [person] = content.get_observer_contexts(observer_type=codes.DCM.Person)
    assert str(person.observer_identifying_attributes.name) == "Hepato^Ada"
    [device] = content.get_observer_contexts(observer_type=codes.DCM.Device)
    device_attributes: Any = device.observer_identifying_attributes
    device_text = str(device_attributes.model_name)
    assert device_text.startswith("liver_ct_seg ") and device_text.split(" ")[1]  # key and version

    groups: list[Any] = list(content.get_volumetric_roi_measurement_groups())
    liver = next(g for g in groups if g.finding_type.value == codes.SCT.Liver.value)
    lesion = next(g for g in groups if g.finding_type.value == codes.SCT.Lesion.value)
    liver_finding = ImagingFinding.objects.get(analysis=report.analysis, kind="segmentation")
    lesion_finding = ImagingFinding.objects.get(analysis=report.analysis, kind="lesion")
    assert _measurements(liver)["Volume"] == (pytest.approx(liver_finding.values["volume_ml"]), "mL")
    lesion_values = _measurements(lesion)
    assert lesion_values["Long axis"] == (pytest.approx(lesion_finding.values["longest_axial_diameter_mm"]), "mm")
    assert lesion_values["Volume"][1] == "mL" and lesion_values["Attenuation Coefficient"][1] == "[hnsf'U]"
    # The corrected diameter (edited), not the model's.
    assert lesion_values["Long axis"][0] != pytest.approx(lesion_finding.proposed["longest_axial_diameter_mm"])
    # References: the model's SEG, segment 1 (liver) and 2 (lesions), and its source series.
    seg = next(d for d in pacs.instances.values() if d.Modality == "SEG")
    for group, number in ((liver, 1), (lesion, 2)):
        segment: Any = group.referenced_segment
        assert segment is not None and segment.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert segment.referenced_segment_numbers == [number]
        assert phantom_ct.SeriesInstanceUID == segment.source_series_for_segmentation.UID
    evaluations = {e.name.meaning: e.value.meaning for e in lesion.get_qualitative_evaluations()}
    assert evaluations["Clinician review status"] == "Accepted with clinician corrections"
    assert evaluations["Clinician lesion label"] == "Hepatocellular carcinoma"
    assert {e.value.meaning for e in liver.get_qualitative_evaluations()} == {"Accepted by clinician"}
    assert lesion.tracking_identifier == "Lesion 1"
    # Intended use, as a comment of the report.
    texts = [item.TextValue for item in hd.sr.utils.find_content_items(sr, value_type=hd.sr.ValueTypeValues.TEXT,
                                                                         recursive=True)]
    assert JUDGEMENT_TEXT in texts and "supports, not replaces, clinical judgement" in JUDGEMENT_TEXT
    # Deterministic UIDs: a retried build is the same instance.
    [again] = sr_documents_build(report, metadata=pacs)
    assert again.SOPInstanceUID == document.SOPInstanceUID and again.SeriesInstanceUID == document.SeriesInstanceUID


def test_rejected_and_undecided_findings_never_reach_the_sr(world: World) -> None:
    from django.test import TestCase

    from inference.findings.services import Decision, findings_decide
    from inference.reports.services import report_sign

    phantom, seg = phantom_with_seg(patient_id=world.patient.mrn)
    phantom_link(patient=world.patient, phantom=phantom)
    first = liver_report(clinician=world.clinician, patient=world.patient, phantom=phantom, seg=seg)
    assert first.analysis is not None
    assert counted_findings(first.content) == []  # all proposed
    decisions = [Decision(f.pk, "rejected", reason="not a lesion") if f.kind == "lesion" else Decision(f.pk, "accepted")
                 for f in ImagingFinding.objects.filter(analysis=first.analysis)]
    with TestCase.captureOnCommitCallbacks(execute=True):
        _findings, draft = findings_decide(actor=world.clinician, analysis=first.analysis, decisions=decisions)
        assert draft is not None
        signed = report_sign(actor=world.clinician, report=draft)
    [document] = sr_documents_build(signed, metadata=MemoryPacs([*phantom.datasets, seg]))
    content = hd.sr.MeasurementReport.from_sequence([_reread(document)])
    groups: list[Any] = [*content.get_volumetric_roi_measurement_groups(), *content.get_image_measurement_groups()]
    assert [g.finding_type.meaning for g in groups] == ["Liver"]


def test_signing_records_pending_and_the_store_records_the_uids(world: World, signed: tuple[Report, MemoryPacs]) -> None:
    report, pacs = signed
    assert report.sr["status"] == "pending"
    stored: list[Any] = []

    def down(_dataset: Any) -> dict[str, Any]:
        raise ConnectionError("PACS down")

    with pytest.raises(ConnectionError):
        sr_store_for_report(report.pk, metadata=pacs, store=down)
    report.refresh_from_db()
    assert report.sr["status"] == "pending" and report.sr["attempts"] == 1 and report.status == "final"

    def keep(dataset: Any) -> dict[str, Any]:
        stored.append(dataset)
        return {"series_uid": str(dataset.SeriesInstanceUID), "sop_instance_uid": str(dataset.SOPInstanceUID)}

    state = sr_store_for_report(report.pk, metadata=pacs, store=keep)
    report.refresh_from_db()
    assert state["status"] == "stored" and report.sr["documents"][0]["sop_instance_uid"] == stored[0].SOPInstanceUID
    assert report.sr["documents"][0]["groups"] == 2
    # Referenced from the report: its provenance names the SR (page, print view and PDF alike).
    from inference.reports.presentation import report_document

    rows = {r.label: r.value for r in report_document(report).provenance}
    assert str(stored[0].SOPInstanceUID) in rows["DICOM structured report"]
    # Done once: a second delivery of the task stores nothing more.
    sr_store_for_report(report.pk, metadata=pacs, store=keep)
    assert len(stored) == 1


def test_headers_unavailable_is_retryable(world: World, signed: tuple[Report, MemoryPacs]) -> None:
    report, _pacs = signed
    with pytest.raises(SrUnavailable):
        sr_documents_build(report, metadata=MemoryPacs([]))


def test_image_classification_is_an_image_level_group_with_its_probability_in_percent(world: World) -> None:
    import datetime as dt

    from django.utils import timezone
    from pydicom.uid import generate_uid

    from imaging.models import ImagingSeries, ImagingStudy, LinkSource
    from inference.reports.content import content_sha256
    from tests.imaging.conftest import ct_dataset

    study_uid, series_uid = generate_uid(), generate_uid()
    image = ct_dataset(study=study_uid, series=series_uid, patient_id=world.patient.mrn)
    image.Modality, image.SOPClassUID = "DX", "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, for presentation
    study = ImagingStudy.objects.create(patient=world.patient, study_instance_uid=study_uid, study_date=dt.date(2025, 1, 2),
                                        modalities="DX", link_source=LinkSource.UPLOAD, dicom_patient_id=world.patient.mrn)
    ImagingSeries.objects.create(study=study, series_instance_uid=series_uid, modality="DX")
    sop = str(image.SOPInstanceUID)
    finding: dict[str, Any] = {"id": 7, "kind": "classification", "source": "model", "status": "accepted", "label": "pneumonia",
               "series_uid": series_uid, "model_key": "cxr_pneumonia", "model_version": "1.0.0", "source_ref": f"prediction:{sop}",
               "values": {"probability": 0.9134, "threshold": 0.5, "positive": True, "sop_instance_uid": sop}}
    rejected = {**finding, "id": 8, "status": "rejected", "values": {**finding["values"], "sop_instance_uid": "1.2.3"}}
    content = {"schema": "cdss.report/1", "patient_id": world.patient.pk,
               "inputs": {"imaging": [{"series_uid": series_uid, "sop_instance_uids": [sop]}]},
               "imaging_findings": [{"kind": "classification", "series_uid": series_uid,
                                     "model": {"key": "cxr_pneumonia", "version": "1.0.0"}, "findings": {"predictions": []}}],
               "findings_review": {"findings": [finding, rejected]}}
    report = Report.objects.create(patient=world.patient, version=1, status="final", content=content,
                                   content_sha256=content_sha256(content), created_by=world.clinician,
                                   signed_by=world.clinician, signed_at=timezone.now())
    [document] = sr_documents_build(report, metadata=MemoryPacs([image]))
    content_item = hd.sr.MeasurementReport.from_sequence([_reread(document)])
    [group] = content_item.get_image_measurement_groups()
    group_any: Any = group
    assert group_any.finding_type.meaning == "Pneumonia" and group_any.finding_type.scheme_designator == "SCT"
    [probability] = group_any.get_measurements()
    assert probability.name.meaning == "Probability" and probability.unit.value == "%"
    assert float(probability.value) == pytest.approx(91.34)
    assert {(e.name.meaning, e.value.meaning) for e in group_any.get_qualitative_evaluations()} == {
        ("Clinician review status", "Accepted by clinician"), ("Pneumonia", "Present")}
    [source] = group_any.source_images
    assert source.referenced_sop_instance_uid == sop and source.referenced_sop_class_uid == image.SOPClassUID
    [device] = content_item.get_observer_contexts(observer_type=codes.DCM.Device)
    attributes: Any = device.observer_identifying_attributes
    assert str(attributes.model_name) == "cxr_pneumonia 1.0.0"


def test_a_signed_amendment_gets_its_own_sr(world: World, signed: tuple[Report, MemoryPacs]) -> None:
    from django.test import TestCase

    from inference.reports.services import report_amend, report_sign

    report, pacs = signed
    stored: list[Any] = []

    def keep(dataset: Any) -> dict[str, Any]:
        stored.append(dataset)
        return {"series_uid": str(dataset.SeriesInstanceUID), "sop_instance_uid": str(dataset.SOPInstanceUID)}

    sr_store_for_report(report.pk, metadata=pacs, store=keep)
    [first] = stored
    report.refresh_from_db()
    with TestCase.captureOnCommitCallbacks(execute=True):
        draft = report_amend(actor=world.clinician, report=report, amendment="Lesion reviewed at the MDT.")
    assert draft.sr == {}  # a draft owes nothing
    with TestCase.captureOnCommitCallbacks(execute=True):
        amended = report_sign(actor=world.clinician, report=draft)
    assert amended.sr["status"] == "pending"
    [second] = sr_documents_build(amended, metadata=pacs)
    assert second.SOPInstanceUID != first.SOPInstanceUID and second.StudyInstanceUID == first.StudyInstanceUID
    assert second.SeriesDescription == f"AI measurements, report version {amended.version}"
    # It names the SR of the version it amends as its predecessor.
    [predecessor] = second.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert predecessor.ReferencedSOPInstanceUID == first.SOPInstanceUID


def test_a_report_without_reviewed_imaging_owes_no_sr_and_the_sweep_requeues_pending_ones(
    world: World, signed: tuple[Report, MemoryPacs], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    from django.utils import timezone

    from inference.reports import tasks
    from inference.reports.content import content_sha256
    from inference.reports.services import report_sign

    content = {"schema": "cdss.report/1", "patient_id": world.patient.pk, "scores": {}, "imaging_findings": []}
    risk_only = Report.objects.create(patient=world.patient, version=9, content=content,
                                      content_sha256=content_sha256(content), created_by=world.clinician)
    # Signing a later version supersedes the phantom report; its SR stays as it was.
    signed_risk = report_sign(actor=world.clinician, report=risk_only)
    assert signed_risk.sr == {"status": "not_applicable", "documents": []}

    report, _pacs = signed
    queued: list[int] = []
    monkeypatch.setattr(tasks, "sr_store_enqueue", queued.append)
    Report.objects.filter(pk=report.pk).update(signed_at=timezone.now() - dt.timedelta(minutes=1))
    assert tasks.report_sr_sweep_task() == 0 and queued == []  # still within its own retries
    Report.objects.filter(pk=report.pk).update(signed_at=timezone.now() - tasks.SR_SWEEP_AFTER - dt.timedelta(seconds=5))
    assert tasks.report_sr_sweep_task() == 1 and queued == [report.pk]
