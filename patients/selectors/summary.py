"""Everything the portal shows first about a patient, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord, Patient
from patients.selectors.observations import observation_latest
from patients.selectors.records import LatestValue, record_latest_values, record_list
from patients.services.records import FINDINGS, GENETICS, LIFESTYLE


@dataclass(frozen=True)
class PatientSummary:
    patient: Patient
    observations: list[LabObservation]
    genetics: list[GeneticFinding]
    lifestyle: dict[str, LatestValue | None]
    findings: dict[str, LatestValue | None]
    counts: dict[str, int]


def patient_summary(*, patient: Patient) -> PatientSummary:
    """Latest observation per analyte, every genetic finding, latest value of each lifestyle
    and clinical-finding field with its date (history lives in the list endpoints)."""
    genetics: list[GeneticFinding] = list(record_list(GENETICS, patient=patient))
    lifestyle: list[LifestyleRecord] = list(record_list(LIFESTYLE, patient=patient))
    findings: list[ClinicalFinding] = list(record_list(FINDINGS, patient=patient))
    observations = observation_latest(patient=patient)
    counts: dict[str, Any] = {
        "analytes": len(observations),
        "genetic_findings": len(genetics),
        "lifestyle_records": len(lifestyle),
        "clinical_findings": len(findings),
    }
    return PatientSummary(
        patient=patient,
        observations=observations,
        genetics=genetics,
        lifestyle=record_latest_values(LIFESTYLE, records=lifestyle),
        findings=record_latest_values(FINDINGS, records=findings),
        counts=counts,
    )
