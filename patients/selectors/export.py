"""A patient's whole record as a FHIR R4 Bundle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from patients.interchange.fhir import patient_bundle
from patients.models import LabObservation, Patient
from patients.selectors.records import record_list
from patients.services.records import FINDINGS, GENETICS, LIFESTYLE


def patient_fhir_export(
    *, patient: Patient, extra_entries: Callable[[str], Sequence[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The record as a validated collection Bundle.

    ``extra_entries`` builds entries from the layers above (a patient's released reports in
    "download my record") given the Patient entry's fullUrl to refer to; the Bundle is then
    validated again with them, as one document.
    """
    bundle = patient_bundle(
        patient=patient,
        observations=LabObservation.objects.filter(patient=patient).order_by("observed_at", "id"),
        genetics=record_list(GENETICS, patient=patient).order_by(GENETICS.date_field, "id"),
        lifestyle=record_list(LIFESTYLE, patient=patient).order_by(LIFESTYLE.date_field, "id"),
        findings=record_list(FINDINGS, patient=patient).order_by(FINDINGS.date_field, "id"),
        timestamp=timezone.now(),
    )
    document: dict[str, Any] = bundle.model_dump(mode="json")
    extra = list(extra_entries(_subject(document))) if extra_entries is not None else []
    if extra:
        document["entry"] = [*document.get("entry", []), *extra]
        document = Bundle.model_validate(document).model_dump(mode="json")
    return document


def _subject(document: dict[str, Any]) -> str:
    """The fullUrl of the Bundle's Patient entry, for resources that refer to the patient."""
    for entry in document.get("entry", []):
        if entry.get("resource", {}).get("resourceType") == "Patient":
            return str(entry["fullUrl"])
    raise ValueError("the Bundle has no Patient entry")
