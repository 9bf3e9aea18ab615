"""What a patient's dashboard and "download my record" show: released reports only, each
explained, the history of the scores across them, labs and genetic findings in words.

Reports come through ``inference.selectors.report_versions_for_patient`` (which already hides
every unreleased version from a patient) and are filtered to released versions for every role,
so a clinician previewing a patient's view sees exactly what the patient sees.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from inference.explanations.explain import LabFlag, genetic_explain, lab_explain, report_explain
from inference.models import Report
from inference.reports.exports import report_fhir_bundle
from inference.selectors import report_versions_for_patient
from patients.models import LabObservation, Patient
from patients.selectors import observation_latest, patient_fhir_export, record_list
from patients.services.records import GENETICS
from patients.units import UnknownAnalyte, analyte_by_code


def released_reports_for_user(*, user: Any, patient: Patient) -> list[Report]:
    """Released versions this user may see, newest first."""
    return [r for r in report_versions_for_patient(user, patient_id=patient.pk) if r.released_at is not None]


def lab_flag(observation: LabObservation) -> tuple[LabFlag, dict[str, Any] | None]:
    """(flag, range) against the lab's own range (entered unit) or else the catalogue's (canonical)."""
    low, high = observation.reference_low, observation.reference_high
    if low is not None or high is not None:
        value, unit = observation.value, observation.unit
    else:
        try:
            analyte = analyte_by_code(observation.code)
        except UnknownAnalyte:
            return "unknown", None
        low, high = analyte.reference_low, analyte.reference_high
        value, unit = observation.value_canonical, observation.unit_canonical
    flag: LabFlag = "low" if low is not None and value < low else "high" if high is not None and value > high else "normal"
    return flag, {"low": low, "high": high, "unit": unit}


def _report_date(report: Report) -> dt.datetime:
    return report.released_at or report.signed_at or report.created_at


def patient_results(*, user: Any, patient: Patient) -> dict[str, Any]:
    reports = released_reports_for_user(user=user, patient=patient)
    explained_reports = [
        {
            "id": r.pk, "version": r.version, "status": r.status, "released_at": r.released_at,
            "signed_at": r.signed_at, "current": not _has_successor(r, reports), "explained": report_explain(r.content),
        }
        for r in reports
    ]
    history: dict[str, list[dict[str, Any]]] = {}
    for report, explained in zip(reversed(reports), reversed(explained_reports), strict=True):
        for score in explained["explained"]["scores"]:
            history.setdefault(score["score"], []).append({
                "report_id": report.pk, "version": report.version, "date": _report_date(report),
                "value": score["value"], "value_text": score.get("value_text"), "category": score["category"],
                "band": score.get("band"),
            })
    labs = []
    for observation in observation_latest(patient=patient):
        try:
            key = analyte_by_code(observation.code).key
        except UnknownAnalyte:
            continue
        flag, reference = lab_flag(observation)
        labs.append({
            "analyte": key, "code": observation.code, "value": observation.value, "unit": observation.unit,
            "observed_at": observation.observed_at, "range": reference, "explanation": lab_explain(key, flag),
        })
    genetics = [
        {
            "id": g.pk, "gene": g.gene, "rsid": g.rsid, "genotype": g.genotype, "reported_on": g.reported_on,
            "explanation": genetic_explain(gene=g.gene, genotype=g.genotype, zygosity=g.zygosity),
        }
        for g in record_list(GENETICS, patient=patient).order_by("-reported_on", "-id")
    ]
    return {
        "patient": patient.pk,
        "reports": explained_reports,
        "latest_report": explained_reports[0]["id"] if explained_reports else None,
        "score_history": history,
        "labs": labs,
        "genetics": genetics,
    }


def _has_successor(report: Report, visible: list[Report]) -> bool:
    return any(other.version > report.version for other in visible)


def patient_record_fhir(*, user: Any, patient: Patient) -> dict[str, Any]:
    """The patient's record and their released reports as one validated FHIR R4 Bundle."""
    reports = released_reports_for_user(user=user, patient=patient)

    def report_entries(subject_url: str) -> list[dict[str, Any]]:
        entries = []
        for report in reports:
            for entry in report_fhir_bundle(report).get("entry", []):
                resource = dict(entry["resource"])
                if "subject" in resource:
                    resource["subject"] = {"reference": subject_url}
                entries.append({**entry, "resource": resource})
        return entries

    return patient_fhir_export(patient=patient, extra_entries=report_entries)
