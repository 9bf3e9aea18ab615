"""Locust: clinicians opening a patient's page (the record, an analyte's trend, the report list).

Used by ``bench_load.py``, which runs it headless, bounded (users, spawn rate, duration) and on
loopback only, once against the API and once against bare Django views serving the same JSON
(``load_urls.py``). Environment: ``BENCH_TOKEN`` (API token), ``BENCH_PATIENTS`` (comma-separated
patient ids), ``BENCH_PREFIX`` (``/api/v1`` or ``/bare``).
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

TOKEN = os.environ.get("BENCH_TOKEN", "")
PATIENTS = [int(p) for p in os.environ.get("BENCH_PATIENTS", "1").split(",") if p]
PREFIX = os.environ.get("BENCH_PREFIX", "/api/v1")
SERIES_QUERY = "code=1742-6&unit=ukat/L"


class Clinician(HttpUser):
    # A clinician reads what the page shows before the next click.
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers.update({"Authorization": f"Token {TOKEN}", "Accept": "application/json"})

    @task
    def patient_page(self) -> None:
        patient = random.choice(PATIENTS)
        self.client.get(f"{PREFIX}/patients/{patient}/", name="patient")
        self.client.get(f"{PREFIX}/patients/{patient}/observations/series/?{SERIES_QUERY}", name="trend")
        self.client.get(f"{PREFIX}/patients/{patient}/reports/", name="reports")
