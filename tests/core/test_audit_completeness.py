"""One request of every kind leaves exactly one audit entry, found by the request's id."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client

from cdss.audit.models import AuditEvent
from imaging.dicomweb import proxy
from tests.access_table import PLACEHOLDERS
from tests.conftest import World, client_for


def _entries(response: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(request_id=response["X-Request-ID"]))


def _one(response: Any, **expected: Any) -> AuditEvent:
    entries = _entries(response)
    assert len(entries) == 1, [(e.action, e.object_type, e.outcome) for e in entries]
    entry = entries[0]
    for name, value in expected.items():
        assert getattr(entry, name) == value, (name, getattr(entry, name), value)
    return entry


def test_allowed_read(world: World) -> None:
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 200
    _one(response, action="read", outcome="success", patient_id=world.patient.pk, actor_id=world.clinician.pk)


def test_denied_read(world: World) -> None:
    response = client_for(world.other_clinician).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 404
    _one(response, action="read", outcome="denied", actor_id=world.other_clinician.pk)


def test_allowed_write(world: World) -> None:
    response = client_for(world.clinician).patch(f"/api/v1/patients/{world.patient.pk}/", {"phone": "1"}, format="json")
    assert response.status_code == 200
    _one(response, action="update", outcome="success")


def test_denied_write_is_a_write(world: World) -> None:
    response = client_for(world.other_clinician).patch(f"/api/v1/patients/{world.patient.pk}/", {"phone": "1"}, format="json")
    assert response.status_code == 404
    _one(response, action="update", outcome="denied")


def test_failed_write(world: World) -> None:
    response = client_for(world.clinician).patch(f"/api/v1/patients/{world.patient.pk}/", {"birth_date": "0001-01-01"}, format="json")
    assert response.status_code == 400
    _one(response, action="update", outcome="failed", patient_id=world.patient.pk)


@pytest.mark.parametrize("path", ["/api/v1/reports/999999999/", "/api/v1/analyses/999999999/", "/api/v1/reports/999999999/export/pdf/"])
def test_404_of_a_missing_object(world: World, path: str) -> None:
    response = client_for(world.clinician).get(path)
    assert response.status_code == 404
    entry = _one(response, action="read", outcome="denied", actor_id=world.clinician.pk)
    assert entry.object_id == "999999999"


def test_403_on_the_audit_trail(world: World) -> None:
    response = client_for(world.clinician).get("/api/v1/audit/")
    assert response.status_code == 403
    _one(response, action="read", outcome="denied", object_type="audit-list")


def test_403_on_sign(world: World) -> None:
    response = client_for(world.consultant).post("/api/v1/reports/999999999/sign/", {}, format="json")
    assert response.status_code in (403, 404)
    _one(response, outcome="denied")


def test_unauthenticated(db: Any) -> None:
    response = client_for(None).get("/api/v1/patients/")
    assert response.status_code == 401
    _one(response, outcome="denied", actor_id=None)


def test_unhandled_exception_is_a_failed_entry(world: World, monkeypatch: Any) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("patients.api.views.patient_search", boom)
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    response = client.get("/api/v1/patients/")
    assert response.status_code == 500
    _one(response, outcome="failed", object_type="patient-list")


def test_client_request_id_is_kept_apart(world: World) -> None:
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/", HTTP_X_REQUEST_ID="mine-1")
    entry = _one(response)
    assert entry.client_request_id == "mine-1" and entry.request_id != "mine-1"


def test_a_series_view_is_one_entry_not_one_per_frame(world: World, settings: Any) -> None:
    settings.DICOMWEB_AUDIT_SERIES_VIEW_S = 300
    access = proxy.ProxyAccess(user=world.clinician, study_id=7, patient_id=world.patient.pk)
    other = proxy.ProxyAccess(user=world.other_clinician, study_id=7, patient_id=world.patient.pk)

    async def view() -> list[Any]:
        writer = proxy._AuditWriter()
        writer.add(None, access, "series-metadata", series="1.2.3")
        for _ in range(35):
            writer.add(None, access, "frames", series="1.2.3")
        writer.add(None, access, "frames", series="1.2.4")  # another series: its own view
        writer.add(None, other, "frames", series="1.2.3")  # another user: their own view
        writer.add(None, access, "study-metadata")  # not a series read: always recorded
        pending = list(writer.pending)
        writer.pending.clear()
        return pending

    pending = asyncio.run(view())
    assert [(entry[1].pk, entry[4]) for entry in pending] == [
        (world.clinician.pk, "series-metadata"), (world.clinician.pk, "frames"),
        (world.other_clinician.pk, "frames"), (world.clinician.pk, "study-metadata"),
    ]


def test_the_portal_serves_the_audit_page(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    response = client.get("/audit?outcome=denied")
    assert response.status_code == 200  # the portal's shell (or the page saying it is not built)


def test_a_read_that_cannot_be_audited_is_withheld(world: World, monkeypatch: Any) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("connection lost")

    monkeypatch.setattr("cdss.audit.middleware.audit_read_record", unavailable)
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert world.patient.family_name not in response.content.decode()


def test_the_access_check_names_what_was_read(world: World) -> None:
    """A report's URL names no patient: the entry's patient and object come from the lookup."""
    report_id = PLACEHOLDERS["released_report"](world)
    response = client_for(world.clinician).get(f"/api/v1/reports/{report_id}/")
    assert response.status_code == 200
    _one(response, action="read", object_type="report", object_id=str(report_id), patient_id=world.patient.pk)
    export = client_for(world.patient_user).get(f"/api/v1/reports/{report_id}/export/html/")
    assert export.status_code == 200
    entry = _one(export, action="export", object_type="report", object_id=str(report_id), patient_id=world.patient.pk)
    assert entry.detail == {"format": "html", "version_shown": "patient"}
