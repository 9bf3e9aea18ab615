"""Every URL under /api/ is walked with GET: each leaves exactly one audit entry, and each view
that reads answers 2xx here and leaves exactly one read (or export) entry, written by the
middleware from the access checks' marks. A new view is walked without anyone listing it: if
this test cannot reach it (an id it does not know how to fill, a fixture it lacks), it fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from cdss.audit.models import AuditAction, AuditEvent, AuditOutcome
from consultations.models import Consultation, Opinion
from inference.models import CxrIntakeJob
from messaging.services import thread_create
from tests.access_table import PLACEHOLDERS
from tests.conftest import World, client_for
from tests.patients.helpers import patient_url
from tests.patients.test_nodules_api import NODULE
from tests.patients.test_records_api import FINDING, LIFESTYLE, PNPLA3

READ_ACTIONS = {AuditAction.READ, AuditAction.EXPORT}


def _api_patterns() -> list[tuple[str, URLPattern]]:
    """(route, pattern) of every URL under /api/, nested includes flattened."""

    def walk(entries: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in entries:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield route, entry

    return [(route, p) for route, p in walk(get_resolver().url_patterns, "/") if route.startswith("/api/")]


PATTERNS = _api_patterns()


def _record(world: World, path: str, body: dict[str, Any]) -> int:
    response = client_for(world.clinician).post(patient_url(world.patient.pk, f"{path}/"), body, format="json")
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def _consultation(world: World) -> Consultation:
    """The world's open consultation, with its room's thread and a signed opinion."""
    consultation = Consultation.objects.get(patient=world.patient)
    if consultation.thread_id is None:
        consultation.thread = thread_create(subject_type="consultation", subject_id=consultation.pk,
                                            patient_id=world.patient.pk, participants=[world.clinician, world.consultant])
        consultation.save(update_fields=["thread"])
        Opinion.objects.create(consultation=consultation, patient=world.patient, author=world.consultant,
                               answer="Agree.", urgency="routine", signed_at=timezone.now(), content_sha256="0" * 64)
    return consultation


# How to fill each URL keyword for the world's clinician; a route gets what it names.
FILL: dict[str, Callable[[World, str], Any]] = {
    "patient_id": lambda world, route: world.patient.pk,
    "report_id": lambda world, route: PLACEHOLDERS["released_report"](world),
    "analysis_id": lambda world, route: PLACEHOLDERS["analysis"](world),
    "finding_id": lambda world, route: PLACEHOLDERS["finding"](world),
    "consultation_id": lambda world, route: _consultation(world).pk,
    "thread_id": lambda world, route: _consultation(world).thread_id,
    "intake_id": lambda world, route: CxrIntakeJob.objects.create(created_by=world.clinician, mode="batch").pk,
    "series_uid": lambda world, route: "1.2.3",
    "fmt": lambda world, route: "fhir" if "record/" in route else "html",
    "record_id": lambda world, route: _record(world, *{
        "genetics/": ("genetics", PNPLA3), "lifestyle/": ("lifestyle", LIFESTYLE), "findings/": ("findings", FINDING),
        "lung-nodules/": ("lung-nodules", NODULE),
        "lung-nodule-assessments/": ("lung-nodule-assessments",
                                     {"assessed_on": "2024-02-01", "nodule_context": "incidental", "nodule_patient_risk": "low"}),
    }[next(part for part in ("lung-nodule-assessments/", "lung-nodules/", "genetics/", "lifestyle/", "findings/")
           if part in route)]),
}
# Query parameters a read needs.
PARAMS = {"observation-series": {"code": "1742-6"}}
# Who reads: the care team's clinician, except where only someone else may.
READER = {"audit-list": "admin"}


def _path(world: World, route: str, pattern: URLPattern) -> str:
    path = route
    for name in pattern.pattern.converters:
        assert name in FILL, f"{route}: teach this test to fill <{name}>"
        path = re.sub(rf"<(\w+:)?{name}>", str(FILL[name](world, route)), path)
    assert "<" not in path, path
    return path


def _reads(pattern: URLPattern) -> bool:
    """A view with a GET handler (every view under /api/ is class-based)."""
    view_class = getattr(pattern.callback, "view_class", None)
    return view_class is None or hasattr(view_class, "get")


@pytest.mark.parametrize(("route", "pattern"), PATTERNS, ids=[p.name or route for route, p in PATTERNS])
def test_every_api_get_leaves_exactly_one_entry(world: World, route: str, pattern: URLPattern) -> None:
    path = _path(world, route, pattern)
    user = world.users()[READER.get(pattern.name or "", "clinician")]
    response = client_for(user).get(path, PARAMS.get(pattern.name or "", {}))
    entries = list(AuditEvent.objects.filter(request_id=response["X-Request-ID"]))
    summary = [(e.action, e.object_type, e.outcome) for e in entries]
    assert len(entries) == 1, (path, response.status_code, summary)
    entry = entries[0]
    assert entry.actor_id == user.pk  # type: ignore[union-attr]
    if not _reads(pattern):
        assert response.status_code == 405, (path, response.status_code)
        assert entry.outcome == AuditOutcome.DENIED
        return
    assert 200 <= response.status_code < 300, (path, response.status_code, response.content[:300])
    assert entry.action in READ_ACTIONS and entry.outcome == AuditOutcome.SUCCESS, summary
    if "patient_id" in pattern.pattern.converters:
        assert entry.patient_id == world.patient.pk, summary


def test_the_walk_reaches_the_apps_views() -> None:
    names = {p.name for _, p in PATTERNS}
    assert {"patient-detail", "report-export", "consultation-room", "thread-message-list", "audit-list"} <= names
