"""A signed report's reviewed AI measurements as a DICOM Structured Report (TID 1500).

One Comprehensive 3D SR "Imaging Measurement Report" per imaging study of the report, built with
highdicom and stored in the PACS beside the images (STOW-RS, the project's DICOMweb client), so that any DICOM viewer shows the
measurements the clinician signed. What goes in is only what counted when the report was
signed: findings a clinician accepted, edited or entered (``findings_review`` of the signed,
hashed content), never proposed or rejected ones; each group says its review status.

- Liver and lesion measurements are volumetric ROI groups (TID 1411) that reference the model's
  DICOM SEG segment (1 liver, 2 lesions) and its source series; a clinician-entered lesion has
  no outline and is an image-level group (TID 1501).
- An image classification is an image-level group on the classified image: the finding, present
  or absent, and the model's probability in percent.
- Units are UCUM (mL, mm, %, [hnsf'U]); the device observer is the model (name, key, version),
  the person observer the signing clinician, who is also the verifying observer.

UIDs are derived from the report (id, content hash, study), so a retried store writes the same
instance again instead of a second copy. Storing happens in the worker
(``inference.reports.tasks``): signing only records ``pending`` and the PACS may be down then.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import highdicom as hd
from django.db import transaction
from django.utils import timezone
from highdicom.sr import CodedConcept
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID, generate_uid

from cdss.core.errors import Conflict, NotFound, ServiceUnavailable
from imaging.dicomweb.client import dicomweb_client_build
from imaging.models import ImagingSeries
from inference.models import Report, ReportStatus
from inference.registry import model_display_name

logger = logging.getLogger(__name__)

JUDGEMENT_TEXT = ("AI measurements reviewed by the signing clinician. This decision-support output supports, "
                  "not replaces, clinical judgement.")
SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
LIVER_SEGMENT, LESION_SEGMENT = 1, 2  # inference.runtime.dicom_seg
SR_SERIES_NUMBER = 990
COUNTED = ("accepted", "edited")

UCUM_ML = CodedConcept("mL", "UCUM", "milliliter")
UCUM_MM = CodedConcept("mm", "UCUM", "millimeter")
UCUM_PERCENT = CodedConcept("%", "UCUM", "percent")
UCUM_HU = CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")

# Review of AI findings has no standard code: a local scheme, named in the coding scheme table.
SCHEME = "99CDSS"
REVIEW_STATUS = CodedConcept("review-status", SCHEME, "Clinician review status")
REVIEW_VALUES = {
    "accepted": CodedConcept("accepted", SCHEME, "Accepted by clinician"),
    "edited": CodedConcept("edited", SCHEME, "Accepted with clinician corrections"),
    "entered": CodedConcept("entered", SCHEME, "Entered by clinician"),
}
LESION_LABEL = CodedConcept("lesion-label", SCHEME, "Clinician lesion label")
LESION_LABELS = {
    "liver_lesion": CodedConcept("52988006", "SCT", "Lesion"),
    "suspected_hcc": CodedConcept("25370001", "SCT", "Hepatocellular carcinoma"),
    "suspected_metastasis": CodedConcept("94381002", "SCT", "Secondary malignant neoplasm of liver"),
    "cyst": CodedConcept("85057007", "SCT", "Cyst of liver"),
    "haemangioma": CodedConcept("93469006", "SCT", "Hemangioma of liver"),
    "other_benign": CodedConcept("20376005", "SCT", "Benign neoplasm"),
}
CLASS_FINDINGS = {
    "pneumonia": CodedConcept("233604007", "SCT", "Pneumonia"),
}
PROCEDURES = {
    "CT": CodedConcept("25045-6", "LN", "CT unspecified body region"),
}

MetadataFetch = Callable[[str, str, str], Dataset]  # (study, series, instance UID) -> header dataset


class SrUnavailable(Exception):
    """The images the SR refers to could not be read from the PACS (retried by the worker)."""


@dataclass
class StudyFindings:
    study_uid: str
    # (series UID, first SOP instance UID) of a source series, for the patient and study attributes.
    probe: tuple[str, str]
    groups: list[Any] = field(default_factory=list)
    evidence: dict[str, tuple[str, str]] = field(default_factory=dict)  # SOP instance -> (series, SOP class)
    models: dict[str, str] = field(default_factory=dict)  # key -> version
    count: int = 0


def counted_findings(content: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The findings that count in a report: accepted, edited or entered by a clinician."""
    review = content.get("findings_review") or {}
    return [f for f in review.get("findings", []) if isinstance(f, Mapping)
            and (f.get("source") == "clinician" or f.get("status") in COUNTED) and f.get("status") != "rejected"]


def sr_uid(report: Report, *parts: str) -> UID:
    return generate_uid(entropy_srcs=["cdss-report-sr", str(report.pk), report.content_sha256, *parts])


def _review(finding: Mapping[str, Any]) -> list[hd.sr.QualitativeEvaluation]:
    status = "entered" if finding.get("source") == "clinician" else str(finding.get("status"))
    return [hd.sr.QualitativeEvaluation(REVIEW_STATUS, REVIEW_VALUES[status])]


def _number(values: Mapping[str, Any], key: str) -> float | None:
    value = values.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _algorithm(finding: Mapping[str, Any]) -> hd.sr.AlgorithmIdentification | None:
    if finding.get("source") == "clinician" or not finding.get("model_key"):
        return None
    return hd.sr.AlgorithmIdentification(name=str(finding["model_key"]), version=str(finding.get("model_version") or "unknown"))


def _tracking(report: Report, finding: Mapping[str, Any], text: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=sr_uid(report, "finding", str(finding.get("id"))), identifier=text)


def _liver_site() -> list[hd.sr.FindingSite]:
    return [hd.sr.FindingSite(anatomic_location=codes.SCT.Liver)]


def _segment(block: Mapping[str, Any], number: int) -> hd.sr.ReferencedSegment | None:
    seg = block.get("seg") or {}
    if not seg.get("sop_instance_uid"):
        return None
    return hd.sr.ReferencedSegment(
        sop_class_uid=SEGMENTATION_SOP_CLASS, sop_instance_uid=str(seg["sop_instance_uid"]), segment_number=number,
        source_series=hd.sr.SourceSeriesForSegmentation(str(block.get("series_uid"))),
    )


def _size_measurements(values: Mapping[str, Any], algorithm: hd.sr.AlgorithmIdentification | None) -> list[hd.sr.Measurement]:
    out = []
    volume = _number(values, "volume_ml")
    if volume is not None:
        out.append(hd.sr.Measurement(name=codes.SCT.Volume, value=volume, unit=UCUM_ML, algorithm_id=algorithm))
    diameter = _number(values, "longest_axial_diameter_mm")
    if diameter is not None:
        out.append(hd.sr.Measurement(name=codes.SCT.LongAxis, value=diameter, unit=UCUM_MM, algorithm_id=algorithm))
    density = _number(values, "mean_density_hu")
    if density is not None:
        out.append(hd.sr.Measurement(name=codes.DCM.AttenuationCoefficient, value=density, unit=UCUM_HU,
                                     derivation=codes.SCT.Mean, algorithm_id=algorithm))
    return out


def _series_studies(report: Report) -> dict[str, str]:
    """Study UID of each series of the report, from the patient's imaging record."""
    uids = [str(b.get("series_uid")) for b in report.content.get("imaging_findings", []) if isinstance(b, Mapping)]
    rows = ImagingSeries.objects.filter(series_instance_uid__in=uids, study__patient_id=report.patient_id)
    return {s.series_instance_uid: s.study.study_instance_uid for s in rows.select_related("study")}


def _study_groups(report: Report) -> dict[str, StudyFindings]:
    """The measurement groups of the report's counted findings, by imaging study."""
    content = report.content
    series_studies = _series_studies(report)
    blocks = {str(b.get("series_uid")): b for b in content.get("imaging_findings", [])
              if isinstance(b, Mapping) and b.get("series_uid") and b.get("kind") != "noop"}
    instances = {str(i.get("series_uid")): [str(u) for u in i.get("sop_instance_uids", [])]
                 for i in (content.get("inputs") or {}).get("imaging", []) if isinstance(i, Mapping)}
    studies: dict[str, StudyFindings] = {}
    lesion_number: dict[str, int] = {}
    for finding in counted_findings(content):
        series_uid = str(finding.get("series_uid") or "")
        block = blocks.get(series_uid)
        study_uid = series_studies.get(series_uid) or str((block or {}).get("study_uid") or "")
        source = instances.get(series_uid) or []
        if block is None or not study_uid or not source:
            continue
        study = studies.setdefault(study_uid, StudyFindings(study_uid=study_uid, probe=(series_uid, source[0])))
        values = finding.get("values") or {}
        algorithm = _algorithm(finding)
        if algorithm is not None:
            study.models[str(finding["model_key"])] = str(finding.get("model_version") or "")
        kind = finding.get("kind")
        group: Any = None
        if kind == "segmentation":
            segment = _segment(block, LIVER_SEGMENT)
            measurements = _size_measurements(values, algorithm)
            if segment is None or not measurements:
                continue
            group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(report, finding, "Liver"), referenced_segment=segment,
                finding_type=codes.SCT.Liver, finding_sites=_liver_site(), algorithm_id=algorithm,
                measurements=measurements, qualitative_evaluations=_review(finding),
            )
            study.evidence[str(block["seg"]["sop_instance_uid"])] = (str(block["seg"]["series_uid"]), SEGMENTATION_SOP_CLASS)
        elif kind in ("lesion", "nodule"):
            number = lesion_number[series_uid] = lesion_number.get(series_uid, 0) + 1
            label = LESION_LABELS.get(str(finding.get("label")), LESION_LABELS["liver_lesion"])
            evaluations = [*_review(finding), hd.sr.QualitativeEvaluation(LESION_LABEL, label)]
            measurements = _size_measurements(values, algorithm)
            if not measurements:
                continue
            segment = _segment(block, LESION_SEGMENT) if finding.get("source") != "clinician" else None
            tracking = _tracking(report, finding, f"Lesion {number}")
            if segment is not None:
                group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking, referenced_segment=segment, finding_type=codes.SCT.Lesion,
                    finding_sites=_liver_site(), algorithm_id=algorithm, measurements=measurements,
                    qualitative_evaluations=evaluations,
                )
                study.evidence[str(block["seg"]["sop_instance_uid"])] = (str(block["seg"]["series_uid"]), SEGMENTATION_SOP_CLASS)
            else:
                group = hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking, finding_type=codes.SCT.Lesion, finding_sites=_liver_site(),
                    measurements=measurements, qualitative_evaluations=evaluations,
                )
        elif kind == "classification":
            instance_uid = str(values.get("sop_instance_uid") or "")
            probability = _number(values, "probability")
            if not instance_uid or probability is None:
                continue
            class_label = str(finding.get("label") or "finding")
            concept = CLASS_FINDINGS.get(class_label.lower(),
                                         CodedConcept(class_label.lower()[:16], SCHEME, class_label.replace("_", " ")))
            evaluations = _review(finding)
            if isinstance(values.get("positive"), bool):
                evaluations.append(hd.sr.QualitativeEvaluation(concept, codes.SCT.Present if values["positive"] else codes.SCT.Absent))
            group = hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(report, finding, f"Image classification: {class_label.replace('_', ' ')}"),
                finding_type=concept, algorithm_id=algorithm,
                measurements=[hd.sr.Measurement(name=codes.DCM.Probability, value=round(probability * 100, 2),
                                                unit=UCUM_PERCENT, algorithm_id=algorithm)],
                qualitative_evaluations=evaluations,
                source_images=[hd.sr.SourceImageForMeasurementGroup("", instance_uid)],
            )
            study.evidence[instance_uid] = (series_uid, "")
        if group is not None:
            study.groups.append(group)
            study.count += 1
    return {uid: s for uid, s in studies.items() if s.groups}


def _person_name(user: Any) -> str:
    family = (getattr(user, "last_name", "") or "").strip()
    given = (getattr(user, "first_name", "") or "").strip()
    return f"{family}^{given}" if family or given else str(user.get_username())


def _comment(report_content: hd.sr.MeasurementReport) -> None:
    """TID 1500 row 12: a Qualitative Evaluations container with the intended-use text."""
    container = hd.sr.ContainerContentItem(
        name=CodedConcept("C0034375", "UMLS", "Qualitative Evaluations"),
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )
    container.ContentSequence = hd.sr.ContentSequence([hd.sr.TextContentItem(
        name=codes.DCM.Comment, value=JUDGEMENT_TEXT, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )])
    report_content[0].ContentSequence.append(container)


def _fix_source_classes(group: Any, classes: Mapping[str, str]) -> None:
    """Source image references were built before the PACS told the SOP classes: fill them in."""
    for item in group[0].ContentSequence:
        for ref in getattr(item, "ReferencedSOPSequence", []) or []:
            if not ref.ReferencedSOPClassUID and str(ref.ReferencedSOPInstanceUID) in classes:
                ref.ReferencedSOPClassUID = classes[str(ref.ReferencedSOPInstanceUID)]


def sr_documents_build(report: Report, *, metadata: MetadataFetch, model_name: Callable[[str], str] = str) -> list[hd.sr.Comprehensive3DSR]:
    """The SR of each imaging study with counted findings (none when nothing counted).

    ``metadata`` reads an instance's header from the PACS: the SR copies the patient and study
    attributes the archive holds, and the SOP class of each referenced image."""
    if report.status == ReportStatus.DRAFT or report.signed_by is None or report.signed_at is None:
        raise ValueError("only a signed report has a DICOM SR")
    signer = report.signed_by
    documents = []
    for study_uid, study in _study_groups(report).items():
        try:
            probe = metadata(study_uid, *study.probe)
            classes = {uid: sop_class or str(metadata(study_uid, series, uid).SOPClassUID)
                       for uid, (series, sop_class) in study.evidence.items()}
        except Exception as exc:
            raise SrUnavailable(f"image headers unavailable ({type(exc).__name__})") from exc
        for group in study.groups:
            _fix_source_classes(group, classes)
        key, version = next(iter(study.models.items()), ("clinician", ""))
        device = hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=generate_uid(entropy_srcs=["cdss-model", key, version]), name=model_name(key)[:64],
                manufacturer_name="CDSS", model_name=f"{key} {version}".strip()[:64],
            ),
        )
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=_person_name(signer), login_name=signer.get_username(), role_in_organization=codes.SCT.Physician,
            ),
        )
        modality = str(getattr(probe, "Modality", "") or "")
        measurement_report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device),
            procedure_reported=PROCEDURES.get(modality, codes.SCT.ImagingProcedure),
            imaging_measurements=study.groups,
        )
        _comment(measurement_report)
        evidence = [_evidence_header(probe)]
        for uid, (series, sop_class) in study.evidence.items():
            item = Dataset()
            item.StudyInstanceUID, item.SeriesInstanceUID, item.SOPInstanceUID = study_uid, series, uid
            item.SOPClassUID = sop_class or classes[uid]
            evidence.append(item)
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence, content=measurement_report, previous_versions=_predecessors(report, study_uid),
            series_instance_uid=sr_uid(report, study_uid, "series"), series_number=SR_SERIES_NUMBER,
            sop_instance_uid=sr_uid(report, study_uid, "instance"), instance_number=1,
            manufacturer="CDSS", is_complete=True, is_final=True, is_verified=True,
            verifying_observer_name=_person_name(signer), verifying_organization="CDSS",
            series_description=f"AI measurements, report version {report.version}"[:64],
            content_date=timezone.localtime(report.signed_at).date(), content_time=timezone.localtime(report.signed_at).time(),
            record_evidence=False,
        )
        documents.append(sr)
    return documents


def _predecessors(report: Report, study_uid: str) -> list[Dataset] | None:
    """An amendment's SR names the SR of the version it amends (Predecessor Documents)."""
    amended = report.amends
    if amended is None:
        return None
    out = []
    for document in (amended.sr or {}).get("documents") or []:
        if document.get("study_uid") != study_uid:
            continue
        item = Dataset()
        item.StudyInstanceUID, item.SeriesInstanceUID = study_uid, document["series_uid"]
        item.SOPInstanceUID, item.SOPClassUID = document["sop_instance_uid"], document.get("sop_class_uid") or COMPREHENSIVE_3D_SR
        out.append(item)
    return out or None


def _evidence_header(probe: Dataset) -> Dataset:
    """The patient and study attributes the SR copies, as the archive holds them."""
    header = Dataset()
    for keyword in ("SpecificCharacterSet", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
                    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime", "ReferringPhysicianName", "IssuerOfPatientID", "PatientAge"):
        if keyword in probe:
            setattr(header, keyword, probe.data_element(keyword).value)  # type: ignore[union-attr]
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                    "StudyDate", "StudyTime"):
        if keyword not in header:
            setattr(header, keyword, None)
    return header


# --- the PACS and the report's record -------------------------------------------------------


def pacs_metadata() -> MetadataFetch:
    client = dicomweb_client_build()

    def fetch(study_uid: str, series_uid: str, instance_uid: str) -> Dataset:
        found = client.retrieve_instance_metadata(study_instance_uid=study_uid, series_instance_uid=series_uid,
                                                  sop_instance_uid=instance_uid)
        return Dataset.from_json(found)

    return fetch


def pacs_store(dataset: Dataset) -> dict[str, Any]:
    """Store one SR by STOW-RS; a PACS that is away is ``SrUnavailable`` (retried)."""
    try:
        dicomweb_client_build().store_instances(datasets=[dataset])
    except Exception as exc:
        raise SrUnavailable(f"storing the SR failed ({type(exc).__name__})") from exc
    return {"series_uid": str(dataset.SeriesInstanceUID), "sop_instance_uid": str(dataset.SOPInstanceUID)}


def sr_state(report: Report) -> dict[str, Any]:
    """What the API tells about the report's SR: status and, once stored, its UIDs."""
    return dict(report.sr or {"status": "not_applicable"})


def sr_mark_pending(report: Report) -> dict[str, Any]:
    """At signing (inside the signing transaction): the SR is owed, unless no reviewed imaging
    finding counts in the report (a risk-only report has none to store)."""
    if not any(f.get("series_uid") for f in counted_findings(report.content)):
        state: dict[str, Any] = {"status": "not_applicable", "documents": []}
    else:
        state = {"status": "pending", "documents": [], "attempts": 0, "requested_at": timezone.now().isoformat()}
    report.sr = state
    return state


def sr_store_for_report(report_id: int, *, metadata: MetadataFetch | None = None,
                        store: Callable[[Dataset], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build and store the SRs of a signed report; record the result on the report.

    Raises on a PACS that is down (the task retries); the report keeps ``pending`` then."""
    report = Report.objects.select_related("signed_by").get(pk=report_id)
    state = dict(report.sr or {})
    if state.get("status") != "pending":
        return state
    versions = {str(f.get("model_key")): str(f.get("model_version") or "") for f in counted_findings(report.content)}

    def model_name(key: str) -> str:
        return model_display_name(key=key, version=versions.get(key) or None) or key

    attempts = int(state.get("attempts") or 0) + 1
    try:
        documents = sr_documents_build(report, metadata=metadata or pacs_metadata(), model_name=model_name)
        stored = [(store or pacs_store)(document) for document in documents]
    except (SrUnavailable, ConnectionError, TimeoutError, OSError) as exc:
        # The PACS is away: still owed, retried by the task and the sweep.
        _record(report_id, {"status": "pending", "attempts": attempts, "last_error": type(exc).__name__})
        raise
    except Exception as exc:  # a report the SR cannot express: said on the report, not retried for ever
        logger.exception("report %s: DICOM SR could not be built", report_id)
        failed = {"status": "failed", "attempts": attempts, "last_error": type(exc).__name__}
        _record(report_id, failed)
        return {**state, **failed}
    records = [{"study_uid": str(d.StudyInstanceUID), "series_uid": s["series_uid"], "sop_instance_uid": s["sop_instance_uid"],
                "sop_class_uid": str(d.SOPClassUID), "groups": len(_measurement_group_items(d))} for d, s in zip(documents, stored, strict=True)]
    final = {"status": "stored" if records else "not_applicable", "documents": records,
             "attempts": int(state.get("attempts") or 0) + 1, "stored_at": timezone.now().isoformat()}
    _record(report_id, final)
    logger.info("report %s: %d DICOM SR stored", report_id, len(records))
    return final


def _measurement_group_items(document: Dataset) -> list[Dataset]:
    out: list[Dataset] = []
    for item in document.ContentSequence:
        if item.ValueType == "CONTAINER" and item.ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImagingMeasurements.value:
            out.extend(i for i in item.ContentSequence if i.ValueType == "CONTAINER")
    return out


def _record(report_id: int, changes: Mapping[str, Any]) -> None:
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        report.sr = {**(report.sr or {}), **changes}
        report.save(update_fields=["sr"])


def sr_download(report: Report) -> bytes:
    """The stored SR of the report (the first study's, when several) as a DICOM file, read
    back from the PACS: what a DICOM viewer gets is what is downloaded."""
    state = report.sr or {}
    status = state.get("status")
    if report.status == ReportStatus.DRAFT:
        raise Conflict("Only a signed report has a DICOM SR.", code="report_not_signed")
    if status == "pending":
        raise Conflict("The DICOM SR of this report is being stored in the image archive; try again shortly.",
                       code="report_sr_pending")
    documents = state.get("documents") or []
    if status != "stored" or not documents:
        raise NotFound("This report has no DICOM SR: no reviewed imaging measurement counted in it.",
                       code="report_sr_not_found")
    first = documents[0]
    try:
        dataset = dicomweb_client_build().retrieve_instance(
            study_instance_uid=first["study_uid"], series_instance_uid=first["series_uid"],
            sop_instance_uid=first["sop_instance_uid"])
    except Exception as exc:
        raise ServiceUnavailable("The image archive is unavailable.", code="pacs_unavailable") from exc
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
