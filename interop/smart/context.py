"""The EHR launch context kept in a session opened by a SMART launch, and the patient an
object named in a URL or socket path belongs to (what the context is checked against)."""

from __future__ import annotations

from typing import Any

from django.apps import apps

SESSION_KEY = "interop.smart"
# URL keyword -> (model, lookup field) whose row names the patient.
OWNER_LOOKUPS: dict[str, tuple[str, str]] = {
    "report_id": ("inference.Report", "pk"),
    "analysis_id": ("inference.AnalysisRequest", "pk"),
    "finding_id": ("inference.ImagingFinding", "pk"),
    "consultation_id": ("consultations.Consultation", "pk"),
    "thread_id": ("messaging.Thread", "pk"),
    "study": ("imaging.ImagingStudy", "study_instance_uid"),
}


def launch_context(request: Any) -> dict[str, Any] | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    value = session.get(SESSION_KEY)
    return value if isinstance(value, dict) else None


def launched_patient_id(request: Any) -> int | None:
    context = launch_context(request)
    return int(context["patient_id"]) if context and context.get("patient_id") is not None else None


def owner_patient_id(kind: str, value: Any) -> int | bool | None:
    """The patient id the object ``kind`` = ``value`` belongs to (``kind`` is ``patient_id`` or a
    key of ``OWNER_LOOKUPS``); None if it has none; False if it does not exist."""
    if kind == "patient_id":
        try:
            return int(value)
        except (TypeError, ValueError):
            return False
    label, field = OWNER_LOOKUPS[kind]
    model = apps.get_model(label)
    row = model._default_manager.filter(**{field: value}).values_list("patient_id", flat=True)[:1]
    found = list(row)
    return found[0] if found else False
