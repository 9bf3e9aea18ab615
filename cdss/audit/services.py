"""Writing audit entries. Every read or change of patient data calls ``audit_record``."""

from __future__ import annotations

import functools
import logging
from contextvars import ContextVar
from typing import Any, TypedDict, Unpack

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest

from cdss.audit.models import AuditAction, AuditEvent, AuditOutcome
from cdss.core.ids import ID_MAX
from cdss.core.request_context import request_id_var
from cdss.core.transactions import atomic_without_flush_wait

logger = logging.getLogger(__name__)


def _client_ip(request: Any) -> str | None:
    if request is None:
        return None
    meta = getattr(request, "META", None)
    if meta is not None:
        return meta.get("REMOTE_ADDR") or None
    scope = getattr(request, "scope", None)  # a Channels consumer passes itself
    if scope and scope.get("client"):
        return str(scope["client"][0])
    return None


class AuditDetails(TypedDict, total=False):
    """What an entry may say besides who did what to which kind of object."""

    object_id: Any
    patient_id: int | None
    outcome: str
    request: HttpRequest | Any | None
    detail: dict[str, Any] | None


def audit_event_build(*, actor: Any, action: str, object_type: str, **details: Unpack[AuditDetails]) -> AuditEvent:
    """An unsaved entry: who did what to which object, from where, under which request id."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    request = details.get("request")
    request_id = getattr(request, "request_id", None) if request is not None else None
    object_id = details.get("object_id")
    patient_id = details.get("patient_id")
    return AuditEvent(
        actor_id=actor.pk if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id)[:128],
        # An id beyond 64 bits names no patient; the attempt stays visible in object_id.
        patient_id=patient_id if isinstance(patient_id, int) and 0 < patient_id <= ID_MAX else None,
        client_ip=_client_ip(request),
        request_id=request_id or request_id_var.get(),
        client_request_id=str(getattr(request, "client_request_id", "") or "")[:64],
        outcome=details.get("outcome", AuditOutcome.SUCCESS),
        detail=details.get("detail") or {},
    )


# The entries written while serving the current request (set by AuditRefusedRequestsMiddleware),
# so that a refused request that wrote none still gets one.
audit_entries_var: ContextVar[list[AuditEvent] | None] = ContextVar("audit_entries", default=None)


def audit_record(*, actor: Any, action: str, object_type: str, **details: Unpack[AuditDetails]) -> AuditEvent:
    event = audit_event_build(actor=actor, action=action, object_type=object_type, **details)
    written = audit_entries_var.get()
    if written is not None:
        written.append(event)
    if action in _NOTHING_CHANGED and not settings.AUDIT_READS_WAIT_FOR_FLUSH:
        _save_without_waiting_for_flush(event)
    else:
        event.save()
    return event


def audit_reads_record(events: list[AuditEvent]) -> None:
    """Store many read entries (from ``audit_event_build``) with one INSERT in one transaction.

    For a stream of reads such as a viewer's frame requests: one statement for the batch costs
    about as much as one entry saved alone. Like a single read's entry, the batch commits
    without waiting for the WAL flush unless AUDIT_READS_WAIT_FOR_FLUSH (see
    ``_save_without_waiting_for_flush``).
    """
    if not events:
        return
    if any(event.action not in _NOTHING_CHANGED for event in events):
        raise ValueError("audit_reads_record stores reads only; a change is audited in its own transaction")
    with transaction.atomic() if settings.AUDIT_READS_WAIT_FOR_FLUSH else atomic_without_flush_wait():
        AuditEvent.objects.bulk_create(events)


# Entries for actions that change nothing. A change is audited inside the change's own
# transaction, which waits for its WAL flush as usual.
_NOTHING_CHANGED = frozenset({AuditAction.READ, AuditAction.SUBSCRIBE})


def _save_without_waiting_for_flush(event: AuditEvent) -> None:
    """Store a read's entry in a transaction that commits without waiting for the WAL flush.

    A read writes nothing but its audit entry, and waiting for that flush was most of a read's
    database time (about 1.5 ms of 2 on a local disk). The entry is visible at once. Only a
    crash of PostgreSQL itself within the flush delay (wal_writer_delay, 200 ms by default)
    can lose it. Setting AUDIT_READS_WAIT_FOR_FLUSH=True restores full durability. Inside a
    caller's transaction the entry simply commits with it.

    On PostgreSQL outside a transaction this is one statement (``_insert_without_flush_wait``)
    rather than BEGIN, SET LOCAL, INSERT and COMMIT: every API read pays for it.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        event.save()
        return
    _insert_without_flush_wait(event)


@functools.cache
def _insert_columns() -> tuple[Any, ...]:
    return tuple(f for f in AuditEvent._meta.concrete_fields if not f.primary_key)


@functools.cache
def _insert_sql() -> str:
    """``INSERT ... SELECT <values> FROM (SELECT set_config('synchronous_commit', 'off', true))``.

    In autocommit the statement is its own transaction, and ``set_config(..., true)`` is SET
    LOCAL for that transaction: PostgreSQL reads synchronous_commit when it commits, which
    happens right after the statement, before the local setting is undone. Each value is cast
    to its column's type (a SELECT list does not take the column types as VALUES does); text
    columns are cast to ``text``, not ``varchar(n)``, so that an over-long value still fails
    the insert instead of being cut short by the cast.
    """
    quote = connection.ops.quote_name
    columns = _insert_columns()
    pk_column = AuditEvent._meta.pk.column if AuditEvent._meta.pk is not None else None
    if pk_column is None:
        raise RuntimeError("AuditEvent has no primary key column")
    casts = ["text" if f.get_internal_type() == "CharField" else f.db_type(connection) for f in columns]
    # Only the model's own table, column and type names go into the text; values are parameters.
    return (
        f"INSERT INTO {quote(AuditEvent._meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "  # noqa: S608
        f"SELECT {', '.join(f'%s::{cast}' for cast in casts)} "
        "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait "
        f"RETURNING {quote(pk_column)}"
    )


def _insert_without_flush_wait(event: AuditEvent) -> None:
    """What ``event.save()`` does for a new entry (``auto_now_add``, the columns' database
    values, the new id on the instance), in one statement that commits without the flush wait."""
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in _insert_columns()]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), values)
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias
