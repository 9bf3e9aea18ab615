"""The discovery document: which hooks this service answers and what it asks the EHR to prefetch."""

from __future__ import annotations

from typing import Any

from interop.ehr_data import LIVER_LAB_CODES, LOINC

SERVICE_ID = "liver-patient-view"
ORDER_SERVICE_ID = "liver-imaging-order-select"

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
    {
        "hook": "order-select",
        "id": ORDER_SERVICE_ID,
        "title": "Liver CT/MRI order protocol",
        "description": (
            "When an abdominal or liver CT or MRI is selected for a patient with cirrhosis or chronic hepatitis B, "
            "recommends a multiphase contrast-enhanced protocol (LI-RADS technique, AASLD 2023)."
        ),
        "prefetch": {"conditions": PREFETCH["conditions"]},
    },
]
TEMPLATES: dict[str, dict[str, str]] = {SERVICE_ID: PREFETCH, ORDER_SERVICE_ID: {"conditions": PREFETCH["conditions"]}}
HOOKS: dict[str, str] = {SERVICE_ID: "patient-view", ORDER_SERVICE_ID: "order-select"}


def discovery() -> dict[str, Any]:
    return {"services": SERVICES}
