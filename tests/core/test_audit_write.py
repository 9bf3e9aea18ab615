"""The write path of a read's audit entry (``cdss.audit.services``): on PostgreSQL, outside a
transaction, one statement that commits without waiting for the WAL flush and stores exactly
what ``AuditEvent.save()`` would."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from cdss.audit.models import AuditEvent, AuditImmutableError
from cdss.audit.services import audit_event_build, audit_record


class _Request:
    META = {"REMOTE_ADDR": "10.1.2.3"}
    request_id = "req-1"
    client_request_id = "client-1"


def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must run the suite against PostgreSQL (DATABASE_URL)")
        pytest.skip("the one-statement write is PostgreSQL's; SQLite saves the entry with the ORM")


def _row(event: AuditEvent) -> dict[str, Any]:
    row = AuditEvent.objects.filter(pk=event.pk).values().get()
    return {k: v for k, v in row.items() if k not in ("id", "occurred_at")}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_read_entry_is_one_statement_and_stores_what_save_stores() -> None:
    _postgres_only()
    details: dict[str, Any] = {"object_id": 42, "patient_id": 7, "request": _Request(), "detail": {"count": 3, "ids": [1, 2]}}
    with CaptureQueriesContext(connection) as captured:
        fast = audit_record(actor=None, action="read", object_type="patient", **details)
    assert len(captured.captured_queries) == 1
    assert "set_config('synchronous_commit', 'off', true)" in captured.captured_queries[0]["sql"]
    assert fast.pk is not None and not fast._state.adding
    assert fast.occurred_at is not None

    with transaction.atomic():  # inside a transaction the entry is saved by the ORM, with the caller's commit
        saved = audit_record(actor=None, action="read", object_type="patient", **details)
    assert _row(fast) == _row(saved) == {
        "actor_id": None, "actor_username": "", "action": "read", "object_type": "patient", "object_id": "42",
        "patient_id": 7, "client_ip": "10.1.2.3", "request_id": "req-1", "client_request_id": "client-1",
        "outcome": "success", "detail": {"count": 3, "ids": [1, 2]},
    }
    assert AuditEvent.objects.get(pk=fast.pk).occurred_at == fast.occurred_at
    with pytest.raises(AuditImmutableError):  # the stored entry is known as stored
        fast.save()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_skipping_the_flush_wait_stays_within_the_entry_s_own_transaction() -> None:
    """The setting is local to the audit statement's transaction: the session goes on waiting
    for the flush, so a change made next on the same connection is durable."""
    _postgres_only()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        before = cursor.fetchone()[0]
    audit_record(actor=None, action="read", object_type="patient", object_id=1)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == before != "off"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_over_long_value_fails_as_with_save_and_leaves_the_connection_usable() -> None:
    """Text values are not cut to the column's length by the statement's casts."""
    _postgres_only()
    event = audit_event_build(actor=None, action="read", object_type="x" * 65, object_id=1)
    with pytest.raises(DataError):
        audit_record(actor=None, action="read", object_type="x" * 65, object_id=1)
    with pytest.raises(DataError), transaction.atomic():
        event.save()
    assert not AuditEvent.objects.filter(object_type__startswith="xxx").exists()
    assert audit_record(actor=None, action="read", object_type="patient", object_id=2).pk is not None


@pytest.mark.django_db(transaction=True)
def test_a_change_is_still_saved_in_its_own_durable_transaction() -> None:
    with CaptureQueriesContext(connection) as captured:
        audit_record(actor=None, action="update", object_type="patient", object_id=1)
    statements = [q["sql"] for q in captured.captured_queries]
    assert not any("synchronous_commit" in sql for sql in statements)
    assert AuditEvent.objects.filter(action="update", object_type="patient").count() == 1
