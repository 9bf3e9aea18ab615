from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cdss.accounts.models import Role, User
from consultations.models import Consultation
from patients.models import Patient, ShareGrant
from tests.factories import CareTeamFactory, PatientFactory, UserFactory

_FOLDER_MARKERS = {"integration": "integration", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One marker scheme: a test under tests/integration or tests/browser carries that marker.

    Tests elsewhere mark themselves when they need the real services, so that
    ``-m "not integration and not browser"`` (the fast tier) selects exactly the unit tests.
    """
    for item in items:
        parts = item.path.parts
        if "tests" not in parts:
            continue
        folder = parts[parts.index("tests") + 1] if len(parts) > parts.index("tests") + 1 else ""
        marker = _FOLDER_MARKERS.get(folder)
        if marker and marker not in item.keywords:
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(autouse=True, scope="session")
def _audit_flush_allowed() -> None:
    """Let the test runner empty its throw-away PostgreSQL database between transactional tests.

    The audit table's trigger refuses TRUNCATE unless ``cdss.audit_maintenance`` is on for the
    transaction; production code never sets it.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL cdss.audit_maintenance = 'on'", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _close_stray_connections(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """Before the test database is dropped, end sessions other threads left open on it."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _login_throttle_reset() -> None:
    """Each test starts with no login attempts counted (the test profile's counters are per process)."""
    from django.core.cache import caches

    caches["throttle"].clear()


@dataclass
class World:
    """Two care teams, each with a clinician and a patient; a consultant on an open case."""

    clinician: User
    other_clinician: User
    consultant: User
    admin: User
    patient_user: User
    other_patient_user: User
    patient: Patient
    other_patient: Patient

    def users(self) -> dict[str, User | None]:
        return {
            "anonymous": None,
            "clinician": self.clinician,
            "other_clinician": self.other_clinician,
            "consultant": self.consultant,
            "patient_self": self.patient_user,
            "patient_other": self.other_patient_user,
            "admin": self.admin,
        }


@pytest.fixture
def world(db: Any) -> World:
    return world_build()


def world_build() -> World:
    clinician = UserFactory.create(role=Role.CLINICIAN)
    other_clinician = UserFactory.create(role=Role.CLINICIAN)
    consultant = UserFactory.create(role=Role.CONSULTANT)
    admin = UserFactory.create(role=Role.ADMIN, is_staff=True, is_superuser=True)
    patient_user = UserFactory.create(role=Role.PATIENT)
    other_patient_user = UserFactory.create(role=Role.PATIENT)
    team = CareTeamFactory.create(members=[clinician])
    other_team = CareTeamFactory.create(members=[other_clinician])
    patient = PatientFactory.create(care_team=team, user=patient_user)
    other_patient = PatientFactory.create(care_team=other_team, user=other_patient_user)
    grant = ShareGrant.objects.create(
        user=consultant, patient=patient, granted_by=clinician, identifiable=True,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    Consultation.objects.create(
        patient=patient, consultant=consultant, requested_by=clinician, status="open", identifiable=True,
        grant=grant, expires_at=grant.expires_at,
    )
    return World(
        clinician=clinician,
        other_clinician=other_clinician,
        consultant=consultant,
        admin=admin,
        patient_user=patient_user,
        other_patient_user=other_patient_user,
        patient=patient,
        other_patient=other_patient,
    )


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def api() -> Any:
    return client_for


def same_error(left: Any, right: Any) -> bool:
    """Two error bodies say the same thing (each answer has its own request id)."""
    def strip(body: Any) -> Any:
        return {k: v for k, v in body.items() if k != "request_id"} if isinstance(body, dict) else body

    return bool(strip(left) == strip(right))
