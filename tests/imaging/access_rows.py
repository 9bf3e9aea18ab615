"""Imaging REST endpoints in the shared access table (tests/access_table.py).

The upload posts no files here, so those allowed past the access checks get 400 (no_files):
visibility first (404), then the right to change (403), then the input (400).
"""

from __future__ import annotations

from tests.access_table import PATIENT_READ, PATIENT_WRITE, Endpoint

UPLOAD_WITHOUT_FILES = {**PATIENT_WRITE, "clinician": 400, "admin": 400}

ACCESS_ROWS: list[Endpoint] = [
    Endpoint("GET", "/api/v1/patients/{patient}/imaging/studies/", PATIENT_READ),
    Endpoint("POST", "/api/v1/patients/{patient}/imaging/upload/", UPLOAD_WITHOUT_FILES),
    Endpoint("POST", "/api/v1/patients/{patient}/imaging/sync/", PATIENT_WRITE, needs_pacs=True),
]
