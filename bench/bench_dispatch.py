"""Dispatch overhead of the analysis pipeline, against the raw primitives, in one run.

    .venv/bin/python bench/bench_dispatch.py [--requests 100] [--clients 50]

Starts its own Daphne and Celery worker (settings profile cdss.settings.bench: DEBUG off,
persistent connections as in production, noop model enabled) on a fresh database (SQLite file
under var/bench, or DATABASE_URL's server with a `_bench` suffix), opens N WebSocket clients on
one patient, then for each request measures, at the client:
  - POST /api/v1/analyses/ -> first "running model" event
  - model step finished event -> report.ready event
and, as baselines in the same run: a raw Redis round trip (LPUSH + BRPOP) and a raw channel
layer send -> receive. Prints p50/p95/p99 and the ratios. Targets: p99 <= 5x the primitives,
p99 <= 30 ms with 50 clients. To show where the time goes, it also prints when, after the POST
was sent, its answer and each state's first event arrived (p50).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import requests
import websockets
from channels.layers import get_channel_layer

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    row = {"p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "mean": statistics.fmean(ms)}
    print(f"{name:<42} p50 {row['p50']:8.2f} ms  p95 {row['p95']:8.2f} ms  p99 {row['p99']:8.2f} ms")
    return row


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1] + "_bench"
    path = ROOT / "var" / "bench" / "dispatch.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="cdss.settings.bench", DATABASE_URL=database_url(), PYTHONUNBUFFERED="1",
               SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-key-not-secret-0123456789abcdefghijklmnop")
    python = sys.executable
    if env["DATABASE_URL"].startswith("postgres"):
        subprocess.run([python, "scripts/pg_ensure_db.py"], cwd=ROOT, env=env, check=True)
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = subprocess.run(
        [python, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    port = free_port()
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "web.log", "w") as web_log, open(log_dir / "worker.log", "w") as worker_log:
        web = subprocess.Popen([python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "cdss.asgi:application"],
                               cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT)
        worker = subprocess.Popen([python, "-m", "celery", "-A", "cdss", "worker", "-Q", "default,gpu", "-c", "2",
                                   "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"],
                                  cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        time.sleep(3)  # let the worker connect
        return asyncio.run(run(base, port, info, args.requests, args.clients))
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(timeout=30)


SETUP = """
import json
from cdss.accounts.services import user_create
from cdss.accounts.models import User, CareTeam
from patients.models import Patient
from rest_framework.authtoken.models import Token
import datetime as dt
user = User.objects.filter(username='bench').first() or user_create(username='bench', password='bench-password-123', role='clinician')
user.set_password('bench-password-123')  # hashed with this profile's hasher, whatever made the user
user.save(update_fields=['password'])
team, _ = CareTeam.objects.get_or_create(name='bench')
team.members.add(user)
patient, _ = Patient.objects.get_or_create(mrn='BENCH-1', defaults=dict(given_name='B', family_name='Bench', birth_date=dt.date(1960,1,1), sex='male', care_team=team))
token, _ = Token.objects.get_or_create(user=user)
print(json.dumps({'patient': patient.pk, 'token': token.key}))
"""


async def run(base: str, port: int, info: dict[str, Any], n_requests: int, n_clients: int) -> int:
    # A session login is a page's: CSRF token and the site's Origin.
    session = requests.Session()
    csrf = session.get(f"{base}/api/v1/auth/csrf/", timeout=10).json()["csrf_token"]
    session.post(f"{base}/api/v1/auth/login/", json={"username": "bench", "password": "bench-password-123"},
                 headers={"X-CSRFToken": csrf, "Origin": base}, timeout=10).raise_for_status()
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/patients/{info['patient']}/"
    # The other browsers watching the patient live in a process of their own, as they would on
    # other machines: in this process, the watcher's timestamps would wait for the bench's own
    # event loop to read every other socket's copy of each event first.
    others = subprocess.Popen(
        [sys.executable, __file__, "--drain", url, "--clients", str(n_clients - 1)],
        env=dict(os.environ, BENCH_WS_HEADERS=json.dumps(headers)), stdout=subprocess.PIPE, text=True,
    )
    assert others.stdout is not None
    if others.stdout.readline().strip() != "connected":
        raise SystemExit("the other WebSocket clients did not connect")
    watcher = await websockets.connect(url, additional_headers=headers)
    await watcher.recv()  # state snapshot
    session = requests.Session()
    session.headers["Authorization"] = f"Token {info['token']}"
    # Events are stamped as they arrive, by a reader of their own: the request id is known only
    # once the POST has answered, and its events may arrive before that answer does.
    arrivals: dict[int, dict[str, float]] = {}
    timelines: dict[int, list[tuple[str, float]]] = {}
    finished: dict[int, asyncio.Event] = {}

    async def read_events() -> None:
        async for text in watcher:
            now = time.perf_counter()
            event = json.loads(text)
            request_id = event.get("request_id")
            if request_id is None:
                continue
            seen = arrivals.setdefault(request_id, {})
            timelines.setdefault(request_id, []).append((event.get("step") or event["type"], now))
            if event.get("step") == "running model":
                seen.setdefault("running", now)
            if event.get("step_key", "").startswith("imaging:") and event.get("progress", 0) >= 60:
                seen.setdefault("model_end", now)
            if event["type"] == "report.ready":
                seen.setdefault("report", now)
                finished.setdefault(request_id, asyncio.Event()).set()

    reader = asyncio.create_task(read_events())
    to_running: list[float] = []
    to_report: list[float] = []
    post_times: list[float] = []
    post_sent: dict[int, float] = {}
    for i in range(n_requests + 5):
        started = time.perf_counter()
        response = await asyncio.to_thread(
            session.post, f"{base}/api/v1/analyses/",
            json={"patient": info["patient"], "models": ["noop"], "idempotency_key": uuid.uuid4().hex}, timeout=30,
        )
        request_id = response.json()["id"]
        post_times.append(time.perf_counter() - started)
        post_sent[request_id] = started
        await asyncio.wait_for(finished.setdefault(request_id, asyncio.Event()).wait(), timeout=60)
        seen = arrivals[request_id]
        if i >= 5 and "running" in seen and "model_end" in seen:  # 5 warm-up requests
            to_running.append(seen["running"] - started)
            to_report.append(seen["report"] - seen["model_end"])
    reader.cancel()
    # Where the time goes: each state's first arrival, after the POST was sent.
    print("\nafter the POST was sent, p50 (ms) of its answer and of each state's first event at the watcher:")
    marks: dict[str, list[float]] = {"POST answered": post_times[5:]}
    for request_id, timeline in list(timelines.items())[5:]:
        sent = post_sent[request_id]
        for state, at in sorted({state: at for state, at in reversed(timeline)}.items(), key=lambda item: item[1]):
            marks.setdefault(state, []).append(at - sent)
    for state, values in sorted(marks.items(), key=lambda item: statistics.median(item[1])):
        print(f"  {state:<24} {statistics.median(values) * 1000:8.2f}  ({len(values)} requests)")
    await watcher.close()
    others.terminate()
    others.wait(timeout=30)

    # Baselines in the same run.
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    redis_rt = []
    for _ in range(n_requests):
        key = f"bench:{uuid.uuid4().hex}"
        t = time.perf_counter()
        r.lpush(key, b"x")
        r.brpop([key], timeout=1)
        redis_rt.append(time.perf_counter() - t)
    # The channel layer the system is configured with (settings.CHANNEL_LAYERS), built here.

    layer = get_channel_layer()
    channel = await layer.new_channel()
    layer_rt = []
    for _ in range(n_requests):
        t = time.perf_counter()
        await layer.send(channel, {"type": "bench"})
        await layer.receive(channel)
        layer_rt.append(time.perf_counter() - t)

    print(f"\n{n_requests} requests, {n_clients} WebSocket clients on one patient, noop model\n")
    a = summary("POST -> first 'running model' event", to_running)
    b = summary("model end -> report.ready event", to_report)
    redis_row = summary("raw Redis round trip (LPUSH+BRPOP)", redis_rt)
    layer_row = summary("raw channel-layer send -> receive", layer_rt)
    primitive_p99 = max(redis_row["p99"], layer_row["p99"])
    print(f"\nratio p99 POST->running / primitive p99: {a['p99'] / primitive_p99:8.1f}x  (target <= 5x)")
    print(f"ratio p99 model end->report / primitive p99: {b['p99'] / primitive_p99:8.1f}x  (target <= 5x)")
    print(f"p99 with {n_clients} clients: {a['p99']:.1f} ms and {b['p99']:.1f} ms (target <= 30 ms)")
    return 0


async def drain(url: str, n_clients: int) -> None:
    """The other clients: connect, say so, then read every event until terminated."""
    headers = json.loads(os.environ["BENCH_WS_HEADERS"])
    clients = [await websockets.connect(url, additional_headers=headers) for _ in range(n_clients)]
    for client in clients:
        await client.recv()  # state snapshot
    print("connected", flush=True)

    async def read_all(client: Any) -> None:
        async for _ in client:
            pass

    await asyncio.gather(*(read_all(c) for c in clients))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--drain":
        asyncio.run(drain(sys.argv[2], int(sys.argv[4])))
        sys.exit(0)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.bench")
    os.environ.setdefault("SECRET_KEY", "bench-only-key-not-secret-0123456789abcdefghijklmnop")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    sys.exit(main())
