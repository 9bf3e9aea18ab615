"""Benchmark: the patient-record API against raw SQL returning the same rows, on PostgreSQL.

Run: ``.venv/bin/python bench/bench_patients.py [--database-url postgres://postgres@127.0.0.1:5432/cdss_bench]``

1. Creates the database if it is missing and migrates it.
2. Loads 10,000 synthetic patients and 1,000,000 laboratory observations (100 per patient: the
   eleven catalogued analytes at nine or ten dates, in a mix of units) with COPY. A finished
   load is reused; a partial one is replaced.
3. Times two reads through the whole stack (URL routing, middleware, DRF authentication with a
   forced admin user, access check, query, audit insert, serialisation, JSON rendering) with
   the Django test client, each against a raw psycopg query returning the same rows, in the
   same run, on the same database:
   - the patient list, first page of 50 (API: ``GET /api/v1/patients/``);
   - one patient's time series of one analyte in a chosen unit (API:
     ``GET /api/v1/patients/{id}/observations/series/?code=1742-6&unit=ukat/L``), a different
     patient on each request, the same sequence of patients on both sides.
   It also times the raw side doing the work the API must do besides the query (the page
   count, and the audit entry every read of patient data writes), to show where the gap is.

Printed as requests per second and the API/raw ratio; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATIENTS = 10_000
OBSERVATIONS_PER_PATIENT = 100
MRN_PREFIX = "BENCH-"
SEED = 20240601
SERIES_CODE, SERIES_UNIT = "1742-6", "ukat/L"
PAGE = 50


def _database_ensure(url: str) -> None:
    # Here, not at the top: main() points the settings at the bench database first.
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin_url = urlunparse(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def _django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.test")
    # A production-like request path: no DEBUG query log.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-key-not-secret-0123456789abcdefghijklmnop")
    # Django is set up when the bench runs, after its arguments are read.
    import django

    django.setup()
    # Here, not at the top: main() points the settings at the bench database first.
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _raw_connect() -> Any:
    # Here, not at the top: main() points the settings at the bench database first.
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

ANALYTE_PLAN: dict[str, tuple[float, float, list[str]]] = {
    # code: (canonical median, log-sd, units to enter in)
    "1742-6": (35.0, 0.6, ["U/L", "U/L", "ukat/L"]),
    "1920-8": (38.0, 0.6, ["U/L", "IU/L", "ukat/L"]),
    "1975-2": (15.0, 0.6, ["umol/L", "mg/dL"]),
    "1751-7": (40.0, 0.12, ["g/L", "g/dL"]),
    "777-3": (200.0, 0.35, ["10*9/L", "10*3/uL", "/mm3"]),
    "6301-6": (1.1, 0.15, ["{INR}", ""]),
    "2160-0": (80.0, 0.3, ["umol/L", "mg/dL"]),
    "2951-2": (139.0, 0.02, ["mmol/L", "meq/L"]),
    "1834-1": (5.0, 0.9, ["ng/mL", "kU/L"]),
    "6768-6": (90.0, 0.4, ["U/L"]),
    "2324-2": (45.0, 0.7, ["U/L", "IU/L"]),
}


def _loaded(cursor: Any) -> bool:
    cursor.execute("SELECT count(*) FROM patients_patient WHERE mrn LIKE %s", (f"{MRN_PREFIX}%",))
    patients = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*) FROM patients_labobservation o JOIN patients_patient p ON p.id = o.patient_id "
        "WHERE p.mrn LIKE %s",
        (f"{MRN_PREFIX}%",),
    )
    observations = cursor.fetchone()[0]
    return patients == PATIENTS and observations == PATIENTS * OBSERVATIONS_PER_PATIENT


def _load(conn: Any) -> None:
    # Here, not at the top: the environment is set and Django set up first (see main).
    from patients.units import analyte_by_code, unit_to_canonical

    rng = random.Random(SEED)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with conn.cursor() as cursor:
        if _loaded(cursor):
            print("data: reusing the loaded 10,000 patients and 1,000,000 observations")
            return
        started = time.perf_counter()
        cursor.execute(
            "DELETE FROM patients_labobservation WHERE patient_id IN "
            "(SELECT id FROM patients_patient WHERE mrn LIKE %s)",
            (f"{MRN_PREFIX}%",),
        )
        cursor.execute("DELETE FROM patients_patient WHERE mrn LIKE %s", (f"{MRN_PREFIX}%",))
        given = ["Alex", "Sam", "Jordan", "Robin", "Kim", "Charlie", "Morgan", "Taylor", "Jamie", "Casey"]
        family = ["Rivera", "Okafor", "Lindqvist", "Tanaka", "Novak", "Haddad", "Moreau", "Kowalski", "Silva", "Chen"]
        with cursor.copy(
            "COPY patients_patient (mrn, given_name, family_name, birth_date, sex, phone, email, address_line, "
            "city, postal_code, country, status, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(PATIENTS):
                born = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 60 * 365))
                touched = now - dt.timedelta(minutes=rng.randrange(0, 500_000))
                copy.write_row((
                    f"{MRN_PREFIX}{i:06d}", rng.choice(given), rng.choice(family), born, rng.choice(["female", "male"]),
                    "", "", "", "", "", "", "active", touched, touched,
                ))
        cursor.execute("SELECT id FROM patients_patient WHERE mrn LIKE %s ORDER BY id", (f"{MRN_PREFIX}%",))
        patient_ids = [row[0] for row in cursor.fetchall()]
        factors = {
            (code, unit): unit_to_canonical(code=code, value=1.0, unit=unit).value
            for code, (_, _, units) in ANALYTE_PLAN.items()
            for unit in units
        }
        canonical_units = {code: analyte_by_code(code).canonical_unit for code in ANALYTE_PLAN}
        codes = list(ANALYTE_PLAN)
        buffer = io.StringIO()
        with cursor.copy(
            "COPY patients_labobservation (patient_id, code, value, unit, value_canonical, unit_canonical, "
            "observed_at, specimen, source, entered_at) FROM STDIN"
        ) as copy:
            for patient_id in patient_ids:
                for k in range(OBSERVATIONS_PER_PATIENT):
                    code = codes[k % len(codes)]
                    median, sd, units = ANALYTE_PLAN[code]
                    unit = units[(k // len(codes) + patient_id) % len(units)]
                    canonical = median * rng.lognormvariate(0.0, sd)
                    value = round(canonical / factors[(code, unit)], 4)
                    canonical = value * factors[(code, unit)]
                    when = now - dt.timedelta(days=30 * (k // len(codes)) + rng.randrange(0, 25), minutes=rng.randrange(0, 1440))
                    buffer.write(
                        f"{patient_id}\t{code}\t{value!r}\t{unit}\t{canonical!r}\t{canonical_units[code]}\t"
                        f"{when.isoformat()}\tserum\timport\t{now.isoformat()}\n"
                    )
                if buffer.tell() > 4_000_000:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE patients_patient")
        cursor.execute("ANALYZE patients_labobservation")
        print(f"data: loaded {len(patient_ids):,} patients and {len(patient_ids) * OBSERVATIONS_PER_PATIENT:,} observations in {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def _rates(calls: Sequence[Callable[[int], Any]], *, seconds: float, rounds: int = 8, warmup: int = 30) -> list[float]:
    """Calls per second of each, timed in interleaved rounds so that load from other processes
    on the machine falls on every side alike."""
    for call in calls:
        for i in range(warmup):
            call(i)
    counts, elapsed = [0] * len(calls), [0.0] * len(calls)
    for _ in range(rounds):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            while time.perf_counter() - started < seconds / rounds:
                call(counts[index])
                counts[index] += 1
            elapsed[index] += time.perf_counter() - started
    return [count / spent for count, spent in zip(counts, elapsed, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cdss_bench"))
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per measurement")
    args = parser.parse_args()
    started = time.perf_counter()
    _database_ensure(args.database_url)
    _django_setup(args.database_url)

    # Here, not at the top: the environment is set and Django set up first (see main).
    from django.conf import settings
    from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

    from cdss.accounts.models import Role, User
    from patients.api.observations import ObservationSeriesApi
    from patients.api.views import PatientListApi

    raw = _raw_connect()
    _load(raw)
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"role": Role.ADMIN})
    client = APIClient()
    client.force_authenticate(user=admin)
    factory = APIRequestFactory()
    list_view, series_view = PatientListApi.as_view(), ObservationSeriesApi.as_view()
    with raw.cursor() as cursor:
        cursor.execute("SELECT id FROM patients_patient WHERE mrn LIKE %s ORDER BY id", (f"{MRN_PREFIX}%",))
        patient_ids = [row[0] for row in cursor.fetchall()]
    order = random.Random(SEED).sample(patient_ids, 2000)

    list_sql = (
        "SELECT id, mrn, given_name, family_name, birth_date, sex, phone, email, address_line, city, postal_code, "
        "country, care_team_id, status, created_at, updated_at FROM patients_patient "
        "ORDER BY updated_at DESC, id DESC LIMIT %s"
    )
    series_sql = (
        "SELECT id, observed_at, value_canonical, value, unit FROM patients_labobservation "
        "WHERE patient_id = %s AND code = %s ORDER BY observed_at, id"
    )
    audit_sql = (
        "INSERT INTO audit_auditevent (occurred_at, actor_id, actor_username, action, object_type, object_id, "
        "patient_id, request_id, outcome, detail) VALUES (now(), %s, %s, 'read', %s, '', %s, '', 'success', %s)"
    )
    cursor = raw.cursor()

    def audit_insert(what: tuple[str, int | None]) -> None:
        # As the API stores a read's entry (cdss.audit.services): its own transaction,
        # committed without waiting for the WAL flush (unless AUDIT_READS_WAIT_FOR_FLUSH).
        with raw.transaction():
            if not settings.AUDIT_READS_WAIT_FOR_FLUSH:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(audit_sql, (admin.pk, admin.username, what[0], what[1], "{}"))

    def api_list(i: int) -> Any:
        response = client.get("/api/v1/patients/")
        assert response.status_code == 200
        return response

    def view_list(i: int) -> Any:
        request = factory.get("/api/v1/patients/")
        force_authenticate(request, user=admin)
        response = list_view(request)
        response.render()
        assert response.status_code == 200
        return response

    def raw_list(i: int) -> list[Any]:
        cursor.execute(list_sql, (PAGE,))
        return cursor.fetchall()

    def raw_list_same_work(i: int) -> list[Any]:
        cursor.execute("SELECT count(*) FROM patients_patient")
        cursor.fetchone()
        rows = raw_list(i)
        audit_insert(("patient_list", None))
        return rows

    def api_series(i: int) -> Any:
        patient_id = order[i % len(order)]
        response = client.get(
            f"/api/v1/patients/{patient_id}/observations/series/", {"code": SERIES_CODE, "unit": SERIES_UNIT}
        )
        assert response.status_code == 200
        return response

    def view_series(i: int) -> Any:
        patient_id = order[i % len(order)]
        request = factory.get(
            f"/api/v1/patients/{patient_id}/observations/series/", {"code": SERIES_CODE, "unit": SERIES_UNIT}
        )
        force_authenticate(request, user=admin)
        response = series_view(request, patient_id=patient_id)
        response.render()
        assert response.status_code == 200
        return response

    def raw_series(i: int) -> list[Any]:
        cursor.execute(series_sql, (order[i % len(order)], SERIES_CODE))
        return cursor.fetchall()

    def raw_series_same_work(i: int) -> list[Any]:
        patient_id = order[i % len(order)]
        cursor.execute("SELECT id FROM patients_patient WHERE id = %s LIMIT 1", (patient_id,))
        cursor.fetchone()
        rows = raw_series(i)
        audit_insert(("observation_series", patient_id))
        return rows

    # Same rows on both sides before anything is timed.
    assert [r["id"] for r in api_list(0).json()["results"]] == [row[0] for row in raw_list(0)]
    assert len(api_list(0).json()["results"]) == PAGE
    series = api_series(0).json()["points"]
    assert [p["id"] for p in series] == [row[0] for row in raw_series(0)] and series

    assert [r["id"] for r in json.loads(view_list(0).content)["results"]] == [row[0] for row in raw_list(0)]
    assert [p["id"] for p in json.loads(view_series(0).content)["points"]] == [row[0] for row in raw_series(0)]

    results: list[tuple[str, list[float]]] = []
    cases: list[tuple[str, list[Callable[[int], Any]]]] = [
        ("patient list (50 rows)", [api_list, view_list, raw_list, raw_list_same_work]),
        (f"series {SERIES_CODE} in {SERIES_UNIT} ({len(series)} points)", [api_series, view_series, raw_series, raw_series_same_work]),
    ]
    for name, calls in cases:
        results.append((name, _rates(calls, seconds=args.seconds)))
    raw.close()

    print(f"\nPostgreSQL {args.database_url.rsplit('/', 1)[-1]}: {PATIENTS:,} patients, {PATIENTS * OBSERVATIONS_PER_PATIENT:,} observations; {args.seconds:g} s per measurement, interleaved")
    print("API (client): Django test client, whole stack with middleware; API (view): RequestFactory calling the view")
    print("raw: one psycopg query returning the same rows; raw+: the same plus the page count or access check and the audit INSERT, stored as the API stores it")
    header = f"{'read':<36} {'API (client)':>12} {'API (view)':>11} {'raw':>8} {'raw+':>7}   {'client/raw':>10} {'view/raw':>9} {'client/raw+':>11}"
    print(header)
    for name, (client_rate, view_rate, raw_rate, same_rate) in results:
        print(
            f"{name:<36} {client_rate:>12.0f} {view_rate:>11.0f} {raw_rate:>8.0f} {same_rate:>7.0f}   "
            f"{client_rate / raw_rate:>10.2f} {view_rate / raw_rate:>9.2f} {client_rate / same_rate:>11.2f}"
        )
    print("requests (or queries) per second; target API/raw >= 0.5 (printed, not asserted)")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
