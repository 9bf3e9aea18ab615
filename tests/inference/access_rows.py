from tests.access_table import ANY_USER, PATIENT_READ, Endpoint

CREATE_ANALYSIS = {
    "anonymous": 401, "clinician": 201, "other_clinician": 404, "consultant": 403,
    "patient_self": 403, "patient_other": 404, "admin": 201,
}

ACCESS_ROWS = [
    Endpoint("POST", "/api/v1/scores/evaluate", ANY_USER, {"patient": {"age_years": 61, "sex": "male"}, "observations": [], "scores": ["meld"]}),
    Endpoint("GET", "/api/v1/patients/{patient}/scores/", PATIENT_READ),
    Endpoint("GET", "/api/v1/patients/{patient}/reports/", PATIENT_READ),
    Endpoint("GET", "/api/v1/analyses/", ANY_USER),
    Endpoint("GET", "/api/v1/analyses/models/", ANY_USER),
    Endpoint("POST", "/api/v1/analyses/", CREATE_ANALYSIS, {"patient": "{patient}", "models": ["noop"], "idempotency_key": "access-table"}),
]
