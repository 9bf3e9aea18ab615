"""The discovery document: which hooks this service answers and what it asks the EHR to prefetch."""

from __future__ import annotations

from typing import Any

from interop.ehr_data import LIVER_LAB_CODES, LOINC

SERVICE_ID = "liver-patient-view"

PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "liverLabs": "Observation?patient={{context.patientId}}&code="
    + ",".join(f"{LOINC}|{code}" for code in LIVER_LAB_CODES)
    + "&_sort=-date&_count=200",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "imaging": "ImagingStudy?patient={{context.patientId}}&_sort=-started&_count=50",
}

SERVICES: list[dict[str, Any]] = [
    {
        "hook": "patient-view",
        "id": SERVICE_ID,
        "title": "Liver disease decision support",
        "description": (
            "MELD 3.0, Child-Pugh and ALBI from the latest liver laboratory results, HCC surveillance "
            "reminders (EASL 2018 / AASLD 2023), imaging AI findings awaiting review and signed reports."
        ),
        "prefetch": PREFETCH,
        "usageRequirements": (
            "Register the EHR (FHIR base URL, MRN identifier system, JWKS) with this service; map "
            "EHR users to local accounts to see local findings and reports. See docs/INTEROP.md."
        ),
    },
]


def discovery() -> dict[str, Any]:
    return {"services": SERVICES}
