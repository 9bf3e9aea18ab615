"""What a successful API read is about, gathered while the request runs and written once.

Every GET or HEAD under /api/ or /fhir/ that succeeds leaves exactly one entry, written by
``cdss.audit.middleware`` after the view has answered; no view writes its own read entry, so a
new view cannot forget one. What the entry says comes from three places:

- the access checks (``patients.access.patient_get_for_user``, the selectors'
  ``*_get_for_user``) call ``read_audit_mark`` with the object and patient they let through;
  the first object and the first patient checked name the read (an export checks the report,
  then its patient);
- the view class declares ``audit_object_type`` (else the object marked, else the URL name)
  and, for a download of a whole document, ``audit_action = AuditAction.EXPORT``;
- the view adds counts, ids or a format with ``read_audit_note`` (ids only, never values).

Without a mark or a note the entry still names the actor, the URL's ids and the request id.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ReadAudit:
    object_type: str | None = None
    object_id: Any = None
    patient_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


# Set by the middleware for requests under /api/ and /fhir/ only; elsewhere (consumers, the DICOMweb
# proxy, management commands) the marks below change nothing.
read_audit_var: ContextVar[ReadAudit | None] = ContextVar("read_audit", default=None)


def read_audit_mark(*, object_type: str, object_id: Any, patient_id: int | None) -> None:
    """An access check let this request reach the object (and its patient)."""
    audit = read_audit_var.get()
    if audit is None:
        return
    if audit.object_type is None:
        audit.object_type, audit.object_id = object_type, object_id
    if audit.patient_id is None:
        audit.patient_id = patient_id


def read_audit_note(*, object_type: str | None = None, object_id: Any = None, patient_id: int | None = None,
                    **detail: Any) -> None:
    """What the view read besides the marked object: counts, ids, a format. ``object_type``,
    ``object_id`` and ``patient_id`` name the read where the view knows it better than the
    access check (an opinion of a consultation, a record of a patient, a FHIR resource)."""
    audit = read_audit_var.get()
    if audit is None:
        return
    if object_type is not None:
        audit.object_type = object_type
    if object_id is not None:
        audit.object_id = object_id
    if patient_id is not None:
        audit.patient_id = patient_id
    audit.detail.update(detail)
