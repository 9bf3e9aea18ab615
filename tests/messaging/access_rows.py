"""Access rows for the patient's conversation with their care team (messaging/api/care_team.py)."""

from __future__ import annotations

from tests.access_table import Endpoint

# The record's readers may see the patient; only the patient and their care team's clinicians
# take part in the conversation (consultants and administrators: 403).
CARE_THREAD = {
    "anonymous": 401, "clinician": 200, "other_clinician": 404, "consultant": 403,
    "patient_self": 200, "patient_other": 404, "admin": 403,
}

ACCESS_ROWS = [Endpoint("GET", "/api/v1/patients/{patient}/care-thread/", CARE_THREAD)]
