"""A patient's whole record as a FHIR R4 Bundle."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from patients.interchange.fhir import patient_bundle
from patients.models import LabObservation, Patient
from patients.selectors.records import record_list
from patients.services.records import FINDINGS, GENETICS, LIFESTYLE


def patient_fhir_export(*, patient: Patient) -> dict[str, Any]:
    bundle = patient_bundle(
        patient=patient,
        observations=LabObservation.objects.filter(patient=patient).order_by("observed_at", "id"),
        genetics=record_list(GENETICS, patient=patient).order_by(GENETICS.date_field, "id"),
        lifestyle=record_list(LIFESTYLE, patient=patient).order_by(LIFESTYLE.date_field, "id"),
        findings=record_list(FINDINGS, patient=patient).order_by(FINDINGS.date_field, "id"),
        timestamp=timezone.now(),
    )
    return bundle.model_dump(mode="json")
