"""Shared helpers for the patient-record tests (synthetic data only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cdss.audit.models import AuditEvent


def patient_url(patient_id: int, suffix: str = "") -> str:
    return f"/api/v1/patients/{patient_id}/{suffix}"


def days_ago(days: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(microsecond=0).isoformat()


def observation(code: str = "1742-6", value: Any = 42, unit: str = "U/L", when: str = "2024-03-01T08:30:00Z", **extra: Any) -> dict[str, Any]:
    return {"code": code, "value": value, "unit": unit, "observed_at": when, **extra}


def audit_entries(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))
