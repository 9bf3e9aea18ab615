"""Reading genetic findings, lifestyle records and clinical findings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from cdss.core.errors import NotFound
from patients.models import Patient
from patients.services.records import RecordKind


def record_list(kind: RecordKind[Any], *, patient: Patient) -> QuerySet[Any]:
    return kind.model._default_manager.filter(patient=patient).order_by(f"-{kind.date_field}", "-id")


def record_get(kind: RecordKind[Any], *, patient: Patient, record_id: Any) -> Any:
    """A record of this patient (already checked visible to the user); otherwise 404."""
    try:
        pk = int(record_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found.") from exc
    record = kind.model._default_manager.filter(patient=patient, pk=pk).first()
    if record is None:
        raise NotFound("Record not found.")
    return record


@dataclass(frozen=True, slots=True)
class LatestValue:
    value: Any
    date: dt.date
    record_id: int


def record_latest(
    kind: RecordKind[Any], *, patient: Patient, since: dt.date | None = None, until: dt.date | None = None
) -> dict[str, LatestValue | None]:
    """For each field, the newest statement among the records dated in ``[since, until]``.

    The one "latest value per field" of dated records (the record page and the scores read it);
    ``until`` is the as-of date of a past evaluation.
    """
    records = record_list(kind, patient=patient)
    if since is not None:
        records = records.filter(**{f"{kind.date_field}__gte": since})
    if until is not None:
        records = records.filter(**{f"{kind.date_field}__lte": until})
    return record_latest_values(kind, records=list(records))


def record_latest_values(kind: RecordKind[Any], *, records: list[Any]) -> dict[str, LatestValue | None]:
    """For each field, the value of the newest record (by date, then id) that states it.

    ``records`` must be ordered newest first, as ``record_list`` returns them.
    """
    latest: dict[str, LatestValue | None] = {}
    for name in kind.fields:
        if name == kind.date_field:
            continue
        latest[name] = next(
            (
                LatestValue(value=getattr(r, name), date=getattr(r, kind.date_field), record_id=r.pk)
                for r in records
                if getattr(r, name) not in (None, "")
            ),
            None,
        )
    return latest
