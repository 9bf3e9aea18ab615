"""Reading date-times from query strings in the base apps (patients has its own readers)."""

from __future__ import annotations

import datetime as dt

from cdss.core.errors import ValidationFailed


def query_datetime(params: object, name: str) -> dt.datetime | None:
    """An ISO 8601 date-time (or date, as midnight UTC) query parameter, aware, in UTC.

    Values with no UTC equivalent (``0001-01-01T00:00:00+01:00``) are refused with 400, not
    passed to the database driver, which overflows converting them.
    """
    raw = getattr(params, "get", lambda _name: None)(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        parsed = (
            dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
            if len(text) == 10
            else dt.datetime.fromisoformat(text)
        )
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(
            f"{name}: not an ISO 8601 date-time within the calendar.", code="invalid_filter",
            detail={name: ["An ISO 8601 date-time, e.g. 2025-01-31T08:00:00Z."]},
        ) from exc
