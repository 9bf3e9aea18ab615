"""Access rows for the patient-record endpoints (run by tests/core/test_access_table.py)."""

from __future__ import annotations

from tests.access_table import ANY_USER, PATIENT_READ, PATIENT_WRITE, Endpoint

# Writes that create answer 201; the rest of PATIENT_WRITE is unchanged.
PATIENT_CREATE = {**PATIENT_WRITE, "clinician": 201, "admin": 201}
# A dry-run import validates and saves nothing: 200 like a read, but only for those who may write.
PATIENT_DRY_RUN = PATIENT_WRITE

P = "/api/v1/patients/{patient}"
OBSERVATION = {"code": "1742-6", "value": 42, "unit": "U/L", "observed_at": "2024-03-01T08:30:00Z"}
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "1751-7"}]},
                "valueQuantity": {"value": 3.9, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
                "effectiveDateTime": "2024-03-01",
            }
        }
    ],
}

ACCESS_ROWS: list[Endpoint] = [
    Endpoint("GET", "/api/v1/analytes/", ANY_USER),
    Endpoint("GET", f"{P}/observations/", PATIENT_READ),
    Endpoint("POST", f"{P}/observations/", PATIENT_CREATE, OBSERVATION),
    Endpoint("POST", f"{P}/observations/", PATIENT_CREATE, {"observations": [OBSERVATION, {**OBSERVATION, "value": 50}]}),
    Endpoint("GET", f"{P}/observations/latest/", PATIENT_READ),
    Endpoint("GET", f"{P}/observations/series/?code=1742-6&unit=ukat/L", PATIENT_READ),
    Endpoint("GET", f"{P}/genetics/", PATIENT_READ),
    Endpoint(
        "POST", f"{P}/genetics/", PATIENT_CREATE,
        {"gene": "PNPLA3", "rsid": "rs738409", "genotype": "C/G", "zygosity": "heterozygous", "reported_on": "2023-05-02"},
    ),
    Endpoint("GET", f"{P}/lifestyle/", PATIENT_READ),
    Endpoint("POST", f"{P}/lifestyle/", PATIENT_CREATE, {"recorded_on": "2024-01-10", "alcohol_value": 14, "alcohol_unit": "units/week"}),
    Endpoint("GET", f"{P}/findings/", PATIENT_READ),
    Endpoint("POST", f"{P}/findings/", PATIENT_CREATE, {"assessed_on": "2024-01-10", "ascites": "slight", "ecog_ps": 1}),
    Endpoint("GET", f"{P}/summary/", PATIENT_READ),
    Endpoint("GET", f"{P}/fhir/", PATIENT_READ),
    Endpoint("POST", f"{P}/import/", PATIENT_CREATE, BUNDLE),
    Endpoint("POST", f"{P}/import/?dry_run=true", PATIENT_DRY_RUN, BUNDLE),
    # The patient's own dashboard and "download my record" (inference/api/patient_results.py).
    Endpoint("GET", "/api/v1/explanations/", ANY_USER),
    Endpoint("GET", f"{P}/results/", PATIENT_READ),
    Endpoint("GET", f"{P}/record/fhir/", PATIENT_READ),
    Endpoint("GET", f"{P}/record/pdf/", PATIENT_READ),
]
