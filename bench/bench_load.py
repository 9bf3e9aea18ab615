"""Benchmark: patient pages under load, the API against bare Django views, with Locust.

Run: ``.venv/bin/python bench/bench_load.py [--users 50] [--duration 60] [--patients 20]
[--database-url postgres://postgres@127.0.0.1:5432/cdss_bench_load]``

1. The stack of ``bench_dicomweb.py`` (its own Orthanc, a migrated database, Daphne serving the
   project's ASGI application with DEBUG off, on loopback), the bench clinician and ``--patients``
   patients of their care team, each with 120 ALT results over ten years.
2. Daphne serves ``load_asgi.py``: the project's URLs plus ``/bare/`` views (``load_urls.py``)
   that answer the same three calls from the same selectors, access checks and audit rows
   without DRF.
3. Locust (``locustfile.py``), headless: ``--users`` clinicians (spawned at once, each waiting
   0.5-1.5 s between page views) open a patient's page: the record, the ALT trend, the report
   list. First against the API, then against the bare views, each for ``--duration`` seconds,
   on the same server.

Prints per call: requests, failures, p50, p95, and throughput, for both sides, and the ratio of
the API's p95 to the bare view's. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dicomweb import PYTHON, ROOT, bench_stack

BENCH = Path(__file__).resolve().parent

_SEED = """
import datetime as dt, os, random
from django.utils import timezone
from cdss.accounts.models import CareTeam
from patients.models import LabObservation, Patient
from patients.units import analyte_by_code
team = CareTeam.objects.get(name="Bench team")
rng = random.Random(7)
now = timezone.now()
unit = analyte_by_code("1742-6").canonical_unit
ids = []
for i in range(int(os.environ["BENCH_PATIENTS"])):
    patient, made = Patient.objects.get_or_create(mrn=f"LOAD-{i:04d}", defaults={"given_name": "Load",
        "family_name": f"Synthetic{i}", "birth_date": "1960-01-01", "sex": "female", "care_team": team})
    if made:
        values = [round(rng.uniform(0.2, 2.0), 3) for _ in range(120)]
        LabObservation.objects.bulk_create([LabObservation(patient=patient, code="1742-6", value=v, unit=unit,
            value_canonical=v, unit_canonical=unit, observed_at=now - dt.timedelta(days=30 * k), specimen="serum",
            source="import", entered_at=now) for k, v in enumerate(values)])
    ids.append(str(patient.pk))
print("PATIENTS", ",".join(ids))
"""


def _locust(url: str, *, prefix: str, token: str, patients: str, users: int, duration: int, out: Path) -> dict[str, dict[str, float]]:
    env = dict(os.environ, BENCH_TOKEN=token, BENCH_PATIENTS=patients, BENCH_PREFIX=prefix)
    subprocess.run(
        [str(Path(PYTHON).parent / "locust"), "-f", str(BENCH / "locustfile.py"), "--headless", "--host", url,
         "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--csv", str(out), "--only-summary",
         "--stop-timeout", "5", "--loglevel", "WARNING"],
        env=env, cwd=ROOT, check=False, capture_output=True, text=True,
    )
    rows: dict[str, dict[str, float]] = {}
    with open(f"{out}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {"requests": float(row["Request Count"]), "failures": float(row["Failure Count"]),
                                 "p50": float(row["50%"]), "p95": float(row["95%"]), "rps": float(row["Requests/s"])}
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="seconds per side")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cdss_bench_load")
    args = parser.parse_args()
    with bench_stack(name="bench-load", slices=1, database_url=args.database_url, keep=False) as stack:
        token, _patient = stack.clinician(password=secrets.token_urlsafe(16))
        seeded = stack.manage("shell", "-c", _SEED, env={"BENCH_PATIENTS": str(args.patients)})
        patients = seeded.split("PATIENTS", 1)[1].strip()
        env = {"PYTHONPATH": f"{BENCH}{os.pathsep}{ROOT}"}
        web = stack.daphne("load_asgi:application", **env)
        print(f"{args.users} clinicians, {args.duration} s per side, {args.patients} patients x 120 ALT results; "
              f"Daphne (one process) on loopback, DEBUG off, {stack.env['DATABASE_URL'].split(':', 1)[0]}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        results = {}
        for side, prefix in (("api", "/api/v1"), ("bare", "/bare")):
            results[side] = _locust(web, prefix=prefix, token=token, patients=patients, users=args.users,
                                    duration=args.duration, out=stack.tmp / f"locust-{side}")
    print(f"{'call':<10}{'side':<6}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}")
    for name in ("patient", "trend", "reports", "Aggregated"):  # locust names the total "Aggregated"
        for side in ("api", "bare"):
            r = results[side].get(name)
            if r:
                print(f"{name[:9]:<10}{side:<6}{r['requests']:>9.0f}{r['failures']:>8.0f}{r['p50']:>9.0f}{r['p95']:>9.0f}{r['rps']:>8.1f}")
        api, bare = results["api"].get(name), results["bare"].get(name)
        if api and bare and bare["p95"]:
            print(f"{'':<10}p95 ratio api / bare: {api['p95'] / bare['p95']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
