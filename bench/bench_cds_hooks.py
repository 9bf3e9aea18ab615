"""Benchmark: the CDS Hooks patient-view call against two baselines, in one run, in one process.

Run: ``.venv/bin/python bench/bench_cds_hooks.py [--calls 200] [--database-url postgres://postgres@127.0.0.1:5432/cdss_bench_cds]``

1. Creates the database if it is missing and migrates it; starts the EHR simulator
   (``interop.sim``) on a loopback port and registers it; adds a clinician, a patient of their
   team matched to the simulator's patient by MRN, and a signed report (so the local cards are
   built as well). Each run adds its own rows; nothing earlier is reused.
2. Times, interleaved call by call so that machine load falls on every side alike:
   - ``hook``: ``POST /cds-services/liver-patient-view`` with the simulator's signed JWT and the
     full prefetch, through the Django test client (URL routing, middleware, JWT check, FHIR
     validation of the prefetch, scores, cards, audit insert, JSON). Nothing is fetched.
   - ``bare view``: a Django view on the same middleware stack returning the same cards JSON,
     computed once beforehand: the floor of any view on this stack.
   - ``service only``: ``interop.cds.service.patient_view`` called in-process on the parsed
     call (prefetch validation, scores, local cards; no HTTP, JWT or audit).
3. Prints p50 and p95 per side, the hook/bare-view ratio, and each p95 against the 500 ms
   that CDS Hooks asks a service to answer within. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import django
import psycopg
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

URL = "/cds-services/liver-patient-view"
BARE_URL = "/bench/cds-cards"
BUDGET_MS = 500.0  # CDS Hooks: a service should answer within half a second


def _database_ensure(url: str) -> None:
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def _django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.test")
    os.environ["DEBUG"] = "false"  # no query log on the request path
    os.environ.setdefault("SECRET_KEY", "bench-only-key-not-secret-0123456789abcdefghijklmnop")
    django.setup()
    call_command("migrate", verbosity=0)


def _fixture(sim: Any) -> types.SimpleNamespace:
    # Imported after django.setup() (they define or use models), as in main().
    from tests.factories import CareTeamFactory, PatientFactory, UserFactory
    from tests.interop.conftest import register, signed_report

    tag = uuid.uuid4().hex[:10]
    clinician = UserFactory.create(username=f"bench-cds-{tag}")
    team = CareTeamFactory.create(name=f"Bench CDS team {tag}", members=[clinician])
    patient = PatientFactory.create(mrn=f"BENCH-CDS-{tag}", care_team=team)
    world = types.SimpleNamespace(clinician=clinician, patient=patient)
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    signed_report(world)
    return world


def _body(sim: Any) -> bytes:
    return json.dumps({
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": sim.fhir_base,
        "context": {"userId": "Practitioner/1", "patientId": "ehr-7"}, "prefetch": sim.prefetch("ehr-7"),
    }).encode()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per side (after 10 warm-up calls)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/cdss_bench_cds")
    args = parser.parse_args()
    _database_ensure(args.database_url)
    _django_setup(args.database_url)

    # Imported after django.setup(): the app registry must be ready for these.
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import include, path

    from interop.cds.service import hook_request_parse, patient_view
    from interop.cds.views import cors_json
    from interop.registry import registration_for_iss
    from tests.interop.conftest import sim_build

    sim = sim_build().start()
    try:
        world = _fixture(sim)
        client = Client()
        audience = f"http://testserver{URL}"

        def hook(body: bytes, token: str) -> Any:
            return client.post(URL, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"})

        first = hook(_body(sim), sim.hook_jwt(audience))  # loads the FHIR models
        assert first.status_code == 200, first.content
        cards = first.json()["cards"]
        precomputed = {"cards": cards}

        def bare_view(request: Any) -> Any:
            return cors_json(precomputed)

        urlconf = types.ModuleType("bench_cds_urls")
        urlconf.urlpatterns = [path(BARE_URL.lstrip("/"), bare_view), path("", include("cdss.urls"))]  # type: ignore[attr-defined]
        sys.modules[urlconf.__name__] = urlconf

        registration = registration_for_iss(sim.fhir_base)

        def bare(body: bytes, token: str) -> Any:
            return client.post(BARE_URL, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"})

        def service_only(body: bytes, token: str) -> Any:
            call = hook_request_parse(json.loads(body), service_id="liver-patient-view")
            return patient_view(call=call, registration=registration, base_url="http://testserver/")

        with override_settings(ROOT_URLCONF=urlconf.__name__):
            answer = bare(_body(sim), "")
            assert answer.status_code == 200 and answer.json() == first.json()
            assert len(service_only(_body(sim), "").cards) == len(cards)
            sides: dict[str, Callable[[bytes, str], Any]] = {"hook": hook, "bare view": bare, "service only": service_only}
            # The EHR's side of a call (the prefetch body, the signed JWT) is built before timing;
            # each call has its own hookInstance and JWT id.
            calls = [(_body(sim), sim.hook_jwt(audience)) for _ in range(args.calls + 10)]
            for body, token in calls[:10]:
                for run in sides.values():
                    run(body, token)
            times: dict[str, list[float]] = {name: [] for name in sides}
            for i, (body, token) in enumerate(calls[10:]):
                # Rotate the order so no side always runs right after another.
                names = list(sides)[i % len(sides):] + list(sides)[: i % len(sides)]
                for name in names:
                    started = time.perf_counter()
                    response = sides[name](body, token)
                    times[name].append((time.perf_counter() - started) * 1000)
                    if name == "hook":
                        assert response.status_code == 200, response.content
    finally:
        sim.stop()

    print(f"patient-view with full prefetch, {len(cards)} cards, {args.calls} timed calls per side (ms)")
    print(f"{'side':<14}{'p50':>9}{'p95':>9}{'mean':>9}   p95 vs 500 ms budget")
    for name, values in times.items():
        p95 = _percentile(values, 0.95)
        print(f"{name:<14}{statistics.median(values):>9.1f}{p95:>9.1f}{statistics.fmean(values):>9.1f}   {p95 / BUDGET_MS:.1%}")
    hook_p50, bare_p50 = statistics.median(times["hook"]), statistics.median(times["bare view"])
    print(f"hook / bare view: p50 x{hook_p50 / bare_p50:.1f}, p95 x{_percentile(times['hook'], 0.95) / _percentile(times['bare view'], 0.95):.1f}")
    print(f"hook / service only: p50 x{hook_p50 / statistics.median(times['service only']):.1f}")
    print(f"world: clinician {world.clinician.username}, patient {world.patient.pk}")


if __name__ == "__main__":
    main()
