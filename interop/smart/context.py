"""The EHR launch context kept in a session opened by a SMART launch."""

from __future__ import annotations

from typing import Any

SESSION_KEY = "interop.smart"


def launch_context(request: Any) -> dict[str, Any] | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    value = session.get(SESSION_KEY)
    return value if isinstance(value, dict) else None


def launched_patient_id(request: Any) -> int | None:
    context = launch_context(request)
    return int(context["patient_id"]) if context and context.get("patient_id") is not None else None
