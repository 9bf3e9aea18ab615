"""Locust: clinicians opening a patient's page (the record, an analyte's trend, the report list).

Used by ``bench_load.py``, which runs it headless, bounded (users, spawn rate, duration) and on
loopback only, against the API and against bare Django views serving the same JSON
(``load_urls.py``). Environment: ``BENCH_TOKEN`` (API token), ``BENCH_PATIENTS`` (comma-separated
patient ids), ``BENCH_PREFIX`` (``/api/v1`` or ``/bare``), ``BENCH_SAMPLES`` (a file that gets one
``name<TAB>milliseconds<TAB>ok`` line per request when Locust stops, so that the bench can
merge runs and compute its own percentiles).

The client is Locust's FastHttpUser (geventhttpclient): the load generator shares the CPUs with
the server, and the requests-based HttpUser spent several times more CPU per request.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, between, events, task

TOKEN = os.environ.get("BENCH_TOKEN", "")
PATIENTS = [int(p) for p in os.environ.get("BENCH_PATIENTS", "1").split(",") if p]
PREFIX = os.environ.get("BENCH_PREFIX", "/api/v1")
SERIES_QUERY = "code=1742-6&unit=ukat/L"
THINK_S = tuple(float(x) for x in os.environ.get("BENCH_THINK_S", "0.5,1.5").split(","))
_samples: list[tuple[str, float, bool]] = []


@events.request.add_listener
def _record(name: str, response_time: float, exception: Any, **_: Any) -> None:
    _samples.append((name, response_time, exception is None))


@events.quitting.add_listener
def _write(**_: Any) -> None:
    path = os.environ.get("BENCH_SAMPLES")
    if path:
        with open(path, "w") as handle:
            handle.writelines(f"{name}\t{ms:.3f}\t{int(ok)}\n" for name, ms, ok in _samples)


class Clinician(FastHttpUser):
    # A clinician reads what the page shows before the next click.
    wait_time = between(THINK_S[0], THINK_S[1])

    @task
    def patient_page(self) -> None:
        patient = random.choice(PATIENTS)
        headers = {"Authorization": f"Token {TOKEN}", "Accept": "application/json"}
        self.client.get(f"{PREFIX}/patients/{patient}/", name="patient", headers=headers)
        self.client.get(f"{PREFIX}/patients/{patient}/observations/series/?{SERIES_QUERY}", name="trend",
                        headers=headers)
        self.client.get(f"{PREFIX}/patients/{patient}/reports/", name="reports", headers=headers)
