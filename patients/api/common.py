"""Small helpers shared by the patient-record views: pagination and query parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cdss.core.pagination import StrictPageNumberPagination
from patients.errors import InvalidField
from patients.validation import datetime_read


class RecordPagination(StrictPageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def query_datetime(params: Any, name: str) -> dt.datetime | None:
    raw = params.get(name)
    return datetime_read(raw, name) if raw else None


def query_flag(params: Any, name: str) -> bool:
    raw = str(params.get(name, "")).strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise InvalidField(f"{name}: must be true or false.", detail={"field": name})
