"""FHIR R4 resources for what this system produces; each is validated with ``fhir.resources``
before it leaves.

- DiagnosticReport: a signed report version (``r<id>``), from ``inference.reports.exports``.
- RiskAssessment: its scores as predictions (``r<id>-risk``).
- Observation: one per computable score of a signed report (``r<id>-<score>``), local code
  ``urn:cdss:fhir:codes|<score id>``, value and category, the citation as a note.
- ImagingStudy: a linked study (``<id>``), identified by its StudyInstanceUID.
- Communication: a consultant's signed opinion (``op<id>``).
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from imaging.models import ImagingStudy
from inference.models import Report
from inference.reports.exports import report_fhir_bundle
from inference.reports.presentation import score_name
from patients.interchange.fhir import CDSS_CODES

DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
INTENDED_USE = "Decision support: it supports, not replaces, clinical judgement."


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return json.loads(model.model_dump_json(exclude_none=True))


def _instant(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _report_parts(report: Report) -> dict[str, dict[str, Any]]:
    bundle = report_fhir_bundle(report)
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in bundle["entry"]
            if entry["resource"]["resourceType"] in ("DiagnosticReport", "RiskAssessment")}


def diagnostic_report(report: Report) -> dict[str, Any]:
    resource = dict(_report_parts(report)["DiagnosticReport"])
    resource.pop("result", None)  # the input Observations are not served on their own
    resource["result"] = [{"reference": f"Observation/{oid}"} for oid in score_observation_ids(report)] or None
    if resource["result"] is None:
        resource.pop("result")
    if report.signed_at:
        resource["effectiveDateTime"] = _instant(report.signed_at)
    resource["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "OTH"}]}]
    return validated(resource)


def risk_assessment(report: Report) -> dict[str, Any]:
    resource = dict(_report_parts(report)["RiskAssessment"])
    resource.pop("basis", None)
    if report.signed_at:
        resource["occurrenceDateTime"] = _instant(report.signed_at)
    resource["basis"] = [{"reference": f"DiagnosticReport/r{report.pk}"}]
    resource["note"] = [{"text": INTENDED_USE}]
    return validated(resource)


def _computable(report: Report) -> list[tuple[str, dict[str, Any]]]:
    scores = report.content.get("scores") or {}
    return [(sid, result) for sid, result in sorted(scores.items()) if isinstance(result, dict) and result.get("computable")]


def score_observation_ids(report: Report) -> list[str]:
    return [f"r{report.pk}-{sid.replace('_', '-')}" for sid, _ in _computable(report)]


def score_observations(report: Report) -> list[dict[str, Any]]:
    out = []
    for (sid, result), oid in zip(_computable(report), score_observation_ids(report), strict=True):
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": oid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}],
            "code": {"coding": [{"system": CDSS_CODES, "code": sid, "display": score_name(sid)}], "text": score_name(sid)},
            "subject": {"reference": f"Patient/{report.patient_id}"},
            "derivedFrom": [{"reference": f"DiagnosticReport/r{report.pk}"}],
            "note": [{"text": f"{result.get('citation', '')}. {INTENDED_USE}"}],
        }
        if report.signed_at:
            resource["effectiveDateTime"] = _instant(report.signed_at)
        value = result.get("value")
        if isinstance(value, bool) or value is None:
            resource["valueString"] = str(result.get("category"))
        elif isinstance(value, int | float):
            resource["valueQuantity"] = {"value": value, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"}
        else:
            resource["valueString"] = str(value)
        if result.get("category") and "valueQuantity" in resource:
            resource["interpretation"] = [{"text": f"category {result['category']}"}]
        out.append(validated(resource))
    return out


def imaging_study(study: ImagingStudy) -> dict[str, Any]:
    modalities = [m for m in study.modalities.split(",") if m]
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy", "id": str(study.pk), "status": "available",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_instance_uid}"}],
        "subject": {"reference": f"Patient/{study.patient_id}"},
        "numberOfSeries": study.number_of_series, "numberOfInstances": study.number_of_instances,
    }
    if modalities:
        resource["modality"] = [{"system": DICOM_DCM, "code": m} for m in modalities]
    if study.study_date:
        resource["started"] = study.study_date.isoformat()
    if study.description:
        resource["description"] = study.description
    series = [
        {"uid": s.series_instance_uid, "modality": {"system": DICOM_DCM, "code": s.modality},
         **({"number": s.series_number} if s.series_number is not None and s.series_number >= 0 else {}),
         "numberOfInstances": s.number_of_instances, **({"description": s.description} if s.description else {})}
        for s in study.series.all() if s.modality
    ]
    if series:
        resource["series"] = series
    return validated(resource)


def communication(opinion: Any) -> dict[str, Any]:
    recommendations = [str(r.get("text") if isinstance(r, dict) else r) for r in opinion.recommendations or []]
    payload = [{"contentString": opinion.answer or "(no text)"}] + [{"contentString": f"Recommendation: {r}"} for r in recommendations if r]
    author = opinion.author
    resource = {
        "resourceType": "Communication", "id": f"op{opinion.pk}", "status": "completed",
        "category": [{"coding": [{"system": CDSS_CODES, "code": "consultant-opinion", "display": "Consultant opinion"}]}],
        "priority": {"urgent": "urgent", "emergency": "stat"}.get(opinion.urgency, "routine"),
        "subject": {"reference": f"Patient/{opinion.patient_id}"},
        "sent": _instant(opinion.signed_at),
        "sender": {"display": (f"{author.first_name} {author.last_name}".strip() or author.username)},
        "payload": payload,
        "identifier": [{"system": "urn:cdss:opinion-sha256", "value": opinion.content_sha256}],
    }
    return validated(resource)


def bundle(resources: list[dict[str, Any]], *, base_url: str) -> dict[str, Any]:
    return validated({
        "resourceType": "Bundle", "type": "searchset", "total": len(resources),
        "entry": [{"fullUrl": f"{base_url}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in resources],
    })


def operation_outcome(code: str, message: str) -> dict[str, Any]:
    return validated({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": message}]})
