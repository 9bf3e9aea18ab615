"""Progress notifications for an analysis: ids, step names, progress and status only."""

from __future__ import annotations

import time
from collections.abc import Callable
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


class CountProgress:
    """Progress of a long step counted in units (slices, epochs, bytes): called with each batch's
    count, it publishes ``(done, total, eta_s)`` with the time left estimated from the pace so far.

    Publishes the first batch, then at most once every ``min_interval_s`` (a worker counting a
    volume in batches of eight slices would otherwise send an event every few hundred
    milliseconds to every watching browser), and always the last.
    """

    def __init__(
        self,
        publish: Callable[[int, int, float | None], None],
        *,
        total: int,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.publish, self.total, self.min_interval_s, self.clock = publish, max(int(total), 1), min_interval_s, clock
        self.done = 0
        self.started = clock()
        self.last: float | None = None

    def eta_s(self, now: float) -> float | None:
        if self.done <= 0:
            return None
        return round((now - self.started) / self.done * max(self.total - self.done, 0), 1)

    def __call__(self, count: int) -> None:
        self.done = min(self.done + int(count), self.total)
        now = self.clock()
        if self.done >= self.total or self.last is None or now - self.last >= self.min_interval_s:
            self.last = now
            self.publish(self.done, self.total, self.eta_s(now))


def step_count_publish(
    *, request_id: int, step_key: str, step_name: str, unit: str, k: int, n: int, eta_s: float | None
) -> None:
    """A step's own progress: ``k`` of ``n`` ``unit`` done and the estimated seconds left (ids and
    counts only). Outside a transaction the event goes at once, so the browser sees it live."""
    analysis = AnalysisRequest.objects.get(pk=request_id)
    if analysis.current_step != step_name:
        analysis.current_step = step_name
        analysis.save(update_fields=["current_step", "updated_at"])
    analysis_publish(analysis, step_key=step_key, k=k, n=n, unit=unit, eta_s=eta_s)
