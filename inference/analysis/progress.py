"""Progress notifications for an analysis: ids, step names, progress and status only."""

from __future__ import annotations

from typing import Any

from inference.events import event_publish_on_commit, patient_group, request_group
from inference.models import AnalysisRequest

# Human-readable step names shown in the portal's progress bar.
STEP_LABELS = {
    "queued": "queued",
    "fetching": "fetching images",
    "model": "running model",
    "scoring": "scoring",
    "fusing": "fusing",
    "report": "writing report",
    "done": "done",
    "failed": "failed",
}


def analysis_state(request: AnalysisRequest, *, report_id: int | None = None) -> dict[str, Any]:
    """The current state as an event body; also the snapshot sent to late subscribers.

    ``report_id``: the finished request's report, when the caller has it in hand (else looked up).
    """
    if report_id is None and request.is_finished:
        report_id = getattr(getattr(request, "report", None), "pk", None)
    return {
        "request_id": request.pk,
        "patient_id": request.patient_id,
        "status": request.status,
        "step": request.current_step or "queued",
        "progress": request.progress,
        "error_code": request.error_code or None,
        "report_id": report_id if request.is_finished else None,
    }


def analysis_publish(
    request: AnalysisRequest, *, event_type: str = "analysis.progress", report_id: int | None = None, **extra: Any
) -> None:
    payload = {**analysis_state(request, report_id=report_id), **extra}
    event_publish_on_commit(
        groups=[patient_group(request.patient_id), request_group(request.pk)],
        event_type=event_type,
        payload=payload,
    )
