"""Benchmark: patient pages under load, the API against bare Django views, with Locust.

Run: ``.venv/bin/python bench/bench_load.py [--users 50] [--duration 30] [--patients 20]
[--workers 1] [--sweep 10,20,30,40,50] [--sweep-duration 10] [--think-variant 5,15]
[--database-url postgres://postgres@127.0.0.1:5432/cdss_bench_load] [--redis-url redis://...]``

1. A migrated database (``--database-url``, default ``$DATABASE_URL`` or ``cdss_bench_load``),
   the bench clinician with an API token, and ``--patients`` patients of their care team, each
   with 120 ALT results over ten years (no reports: the report list answers ``[]``).
2. Daphne (``--workers`` processes sharing one listening socket, passed with ``--fd``) serves
   ``load_asgi.py`` on a free loopback port with DEBUG off: the project's ASGI application and
   URLs plus ``/bare/`` views (``load_urls.py``) that answer the same three calls from the same
   selectors, access checks and audit rows without DRF. Before timing, both sides' answers are
   compared as JSON.
3. Locust (``locustfile.py``), headless: ``--users`` clinicians (spawned at once, each waiting
   0.5-1.5 s between page views) open a patient's page: the record, the ALT trend, the report
   list. The two sides alternate (API, bare, bare, API; ``--duration`` seconds per side in all),
   so that a change in the machine's other load falls on both; percentiles come from every
   request's time (Locust's event hook), merged over a side's runs.
4. Capacity: the same page views at each ``--sweep`` size (``--sweep-duration`` seconds per
   side, API then bare, then bare then API at the next size) until both sides miss the target;
   a side's capacity is the largest size up to which its p95 stayed within 300 ms, no errors.
5. ``--think-variant LOW,HIGH``: one more pair of runs (``--duration`` seconds each) at
   ``--users`` with that think time, the clinicians spawned over HIGH seconds, printed on its
   own, labelled line (the figure above keeps 0.5-1.5 s and spawns everyone at once).

Prints per call: requests, errors, p50, p95, throughput, for both sides; the p95 ratio API /
bare; the CPU time per request of the Daphne processes, of this database's PostgreSQL backends
and of Locust (from /proc and the children's rusage: less dependent on the machine's other load
than the times), the load average, and the capacities. Prints, never asserts. Everything it
started (Daphne, Locust) is stopped at the end; the database is kept.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
TARGET_P95_MS = 300.0
CALLS = ("patient", "trend", "reports")

_SEED = """
import datetime as dt, os, random
from django.utils import timezone
from rest_framework.authtoken.models import Token
from cdss.accounts.models import CareTeam, Role, User
from patients.models import LabObservation, Patient
from patients.units import analyte_by_code
user, _ = User.objects.get_or_create(username="bench-clinician", defaults={"role": Role.CLINICIAN})
team, _ = CareTeam.objects.get_or_create(name="Bench team")
team.members.add(user)
Token.objects.filter(user=user).delete()  # a fresh token: the API's tokens expire
token = Token.objects.create(user=user)
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
print("TOKEN", token.key, "PATIENTS", ",".join(ids))
"""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Stack:
    env: dict[str, str]
    tmp: Path
    url: str = ""
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    database: str = ""

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run([PYTHON, "manage.py", *args], env={**self.env, **(env or {})}, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    def server_cpu_s(self) -> float:
        return sum(_cpu_s(s.pid) for s in self.servers)

    def database_cpu_s(self) -> float:
        """CPU time so far of the PostgreSQL backends connected to this bench's database."""
        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True, connect_timeout=5) as conn:
            pids = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,))]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                total += _cpu_s(pid)
        return total


@contextlib.contextmanager
def load_stack(*, database_url: str, redis_url: str | None, workers: int) -> Iterator[Stack]:
    """A migrated database and ``workers`` Daphne processes on one loopback socket; the servers
    and the temporary directory go at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="cdss-bench-load-"))
    env = dict(
        os.environ,
        CDSS_DATA_DIR=str(tmp),
        DJANGO_SETTINGS_MODULE="cdss.settings.dev",
        SECRET_KEY="bench-only-" + base64.b16encode(os.urandom(16)).decode(),
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=f"{BENCH}{os.pathsep}{ROOT}",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    stack = Stack(env=env, tmp=tmp, database=database_url.rsplit("/", 1)[1].split("?")[0])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if database_url.startswith("postgres"):
            subprocess.run([PYTHON, str(ROOT / "scripts" / "pg_ensure_db.py")], env=env, cwd=ROOT, check=True)
        stack.manage("migrate", "--noinput", "-v", "0")
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        stack.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        for n in range(workers):
            stack.servers.append(subprocess.Popen(
                [str(Path(PYTHON).parent / "daphne"), "--fd", str(listener.fileno()), "load_asgi:application"],
                env=env, cwd=ROOT, pass_fds=(listener.fileno(),),
                stdout=(tmp / f"daphne-{n}.log").open("wb"), stderr=subprocess.STDOUT,
            ))
        _wait_ready(stack)
        yield stack
    finally:
        for server in stack.servers:
            server.terminate()
        for server in stack.servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        listener.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _wait_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(s.poll() is not None for s in stack.servers):
            logs = "\n".join((stack.tmp / f"daphne-{n}.log").read_text()[-2000:] for n in range(len(stack.servers)))
            raise RuntimeError(f"Daphne exited:\n{logs}")
        try:
            with urllib.request.urlopen(f"{stack.url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("Daphne did not answer /healthz within 120 s")


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _check_same_answers(stack: Stack, token: str, patient: str) -> None:
    """Both sides answer every call, with equal JSON, before anything is timed (and the first
    requests warm both)."""
    paths = {"patient": f"/patients/{patient}/", "trend": f"/patients/{patient}/observations/series/?code=1742-6&unit=ukat/L",
             "reports": f"/patients/{patient}/reports/"}
    for name, path in paths.items():
        for _ in range(2 * len(stack.servers)):  # reach every worker
            api, bare = _get_json(f"{stack.url}/api/v1{path}", token), _get_json(f"{stack.url}/bare{path}", token)
        if api != bare:
            raise RuntimeError(f"{name}: the bare view's JSON differs from the API's:\n{api}\n{bare}")


@dataclass
class Run:
    samples: list[tuple[str, float, bool]]
    seconds: float
    server_cpu_s: float
    database_cpu_s: float
    locust_cpu_s: float


def _locust(stack: Stack, *, side: str, token: str, patients: str, users: int, duration: int,
            think: str = "0.5,1.5", spawn_rate: float | None = None) -> Run:
    prefix = {"api": "/api/v1", "bare": "/bare"}[side]
    out = stack.tmp / f"samples-{side}-{time.monotonic_ns()}.tsv"
    env = dict(os.environ, BENCH_TOKEN=token, BENCH_PATIENTS=patients, BENCH_PREFIX=prefix, BENCH_SAMPLES=str(out),
               BENCH_THINK_S=think)
    server0, database0, locust0, start = stack.server_cpu_s(), stack.database_cpu_s(), _children_cpu_s(), time.monotonic()
    subprocess.run(
        [str(Path(PYTHON).parent / "locust"), "-f", str(BENCH / "locustfile.py"), "--headless", "--host", stack.url,
         "-u", str(users), "-r", str(spawn_rate or users), "-t", f"{duration}s", "--only-summary", "--stop-timeout", "5",
         "--loglevel", "WARNING"],
        env=env, cwd=ROOT, check=False, capture_output=True, text=True, timeout=duration + 60,
    )
    seconds = time.monotonic() - start
    run = Run(samples=[], seconds=seconds, server_cpu_s=stack.server_cpu_s() - server0,
              database_cpu_s=stack.database_cpu_s() - database0, locust_cpu_s=_children_cpu_s() - locust0)
    for line in out.read_text().splitlines() if out.exists() else []:
        name, ms, ok = line.split("\t")
        run.samples.append((name, float(ms), ok == "1"))
    return run


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _summary(runs: list[Run], name: str | None = None) -> dict[str, float]:
    samples = [s for run in runs for s in run.samples if name is None or s[0] == name]
    times = [ms for _, ms, _ in samples]
    seconds = sum(run.seconds for run in runs)
    return {"requests": len(samples), "errors": sum(1 for *_, ok in samples if not ok),
            "p50": _percentile(times, 50) if times else float("nan"), "p95": _percentile(times, 95) if times else float("nan"),
            "rps": len(samples) / seconds if seconds else 0.0}


def _cpu_per_request_ms(runs: list[Run]) -> tuple[float, float, float]:
    requests = sum(len(run.samples) for run in runs) or 1
    return (1000 * sum(r.server_cpu_s for r in runs) / requests, 1000 * sum(r.database_cpu_s for r in runs) / requests,
            1000 * sum(r.locust_cpu_s for r in runs) / requests)


def _print_table(results: dict[str, list[Run]]) -> None:
    print(f"{'call':<10}{'side':<6}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}")
    for name in (*CALLS, None):
        label = name or "all"
        rows = {side: _summary(runs, name) for side, runs in results.items()}
        for side, r in rows.items():
            print(f"{label:<10}{side:<6}{r['requests']:>9.0f}{r['errors']:>8.0f}{r['p50']:>9.0f}{r['p95']:>9.0f}{r['rps']:>8.1f}")
        if rows["bare"]["p95"]:
            print(f"{'':<10}p95 ratio api / bare: {rows['api']['p95'] / rows['bare']['p95']:.2f}")
    for side, runs in results.items():
        server, database, locust = _cpu_per_request_ms(runs)
        print(f"CPU per request, {side:<4}: Daphne {server:.1f} ms, PostgreSQL {database:.1f} ms, "
              f"Locust {locust:.1f} ms (with its start-up)")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=30, help="seconds per side (in two runs, alternating)")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="Daphne processes sharing the port")
    parser.add_argument("--sweep", default="10,20,30,40,50", help="clinician counts for the capacity figure ('' for none)")
    parser.add_argument("--sweep-duration", type=int, default=10, help="seconds per side at each sweep size")
    parser.add_argument("--think-variant", default="", help="LOW,HIGH seconds: one extra labelled pair of runs")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/cdss_bench_load")
    parser.add_argument("--redis-url", default=None, help="default: $REDIS_URL (the app's default if unset)")
    args = parser.parse_args()

    with load_stack(database_url=args.database_url, redis_url=args.redis_url, workers=args.workers) as stack:
        seeded = stack.manage("shell", "-c", _SEED, env={"BENCH_PATIENTS": str(args.patients)})
        token, patients = seeded.split("TOKEN", 1)[1].split("PATIENTS")
        token, patients = token.strip(), patients.strip()
        _check_same_answers(stack, token, patients.split(",")[0])
        print(f"{args.users} clinicians (0.5-1.5 s between page views), {args.duration} s per side (API, bare, bare, "
              f"API), {args.patients} patients x 120 ALT results; Daphne ({args.workers} process"
              f"{'es' if args.workers > 1 else ''}) on loopback, DEBUG off, {args.database_url.split(':', 1)[0]}; "
              f"Locust on the same {os.cpu_count()} CPUs; load average before {os.getloadavg()[0]:.1f}")
        half = max(1, args.duration // 2)
        results: dict[str, list[Run]] = {"api": [], "bare": []}
        for side in ("api", "bare", "bare", "api"):
            results[side].append(_locust(stack, side=side, token=token, patients=patients, users=args.users, duration=half))
        _print_table(results)
        print(f"load average after: {os.getloadavg()[0]:.1f}")

        if args.think_variant:
            # Spawned over one longest think time: started at once, the clinicians' first clicks
            # would all fall in the same instant, and with long thinks that burst is most of the run.
            low, high = args.think_variant.split(",")
            rate = args.users / float(high)
            variant = {side: [_locust(stack, side=side, token=token, patients=patients, users=args.users,
                                      duration=args.duration, think=args.think_variant, spawn_rate=rate)]
                       for side in ("api", "bare")}
            api, bare = _summary(variant["api"]), _summary(variant["bare"])
            print(f"EXTRA, not the target's setting: think time {low}-{high} s (a clinician reading a page), "
                  f"{args.users} clinicians spawned over {high} s, {args.duration} s per side: p95 API {api['p95']:.0f} ms vs bare {bare['p95']:.0f} ms "
                  f"({api['p95'] / bare['p95']:.2f}), errors {api['errors']:.0f} / {bare['errors']:.0f}, "
                  f"{api['rps']:.1f} vs {bare['rps']:.1f} req/s")

        sizes = [int(s) for s in args.sweep.split(",") if s.strip()]
        if sizes:
            capacity: dict[str, int | None] = {"api": None, "bare": None}
            missed = {"api": False, "bare": False}
            print(f"capacity sweep ({args.sweep_duration} s per side per size, p95 target {TARGET_P95_MS:.0f} ms):")
            for n, users in enumerate(sizes):
                order = ("api", "bare") if n % 2 == 0 else ("bare", "api")
                step = {side: _summary([_locust(stack, side=side, token=token, patients=patients, users=users,
                                                duration=args.sweep_duration)]) for side in order}
                line = []
                for side in ("api", "bare"):
                    r = step[side]
                    ok = r["p95"] <= TARGET_P95_MS and r["errors"] == 0
                    if ok and not missed[side]:
                        capacity[side] = users
                    missed[side] = missed[side] or not ok
                    line.append(f"{side} p95 {r['p95']:.0f} ms {r['rps']:.1f} req/s{'' if ok else ' (miss)'}")
                print(f"  {users:>4} clinicians: {'; '.join(line)}; load average {os.getloadavg()[0]:.1f}")
                if all(step[side]["p95"] > TARGET_P95_MS for side in step):
                    break
            print(f"capacity (largest size up to which every size had p95 <= {TARGET_P95_MS:.0f} ms, no errors): API {capacity['api']} "
                  f"clinicians, bare {capacity['bare']} clinicians")
    return 0


if __name__ == "__main__":
    sys.exit(main())
