"""The analysis workflow, driven by database state so that it survives lost workers.

``analysis_request_create`` stores a request and its steps in one transaction and sends the
first dispatch on commit. ``analysis_advance`` dispatches whichever steps are ready (all steps
of lower order done); each step task calls ``analysis_step_execute``, which claims the step,
runs it outside any transaction, and stores the result only if no other delivery already did.
In a worker, storing a result and advancing are one transaction, and the cheap steps that
follow (fusion, report) are claimed in it and run in the same worker, not sent through the
broker. ``analysis_sweep`` re-drives steps whose worker vanished and fails requests that can no longer
finish, each with a code. Every state change publishes a notification on commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from cdss.core.transactions import atomic_without_flush_wait
from imaging.selectors import series_of_patient_check
from inference.analysis.catalog import analysis_models
from inference.analysis.dispatch import TASK_ADVANCE, TASK_STEP, task_send
from inference.analysis.errors import TRANSIENT_ERRORS, NothingToAnalyse, StepFailed, UnknownModel
from inference.analysis.progress import analysis_publish
from inference.analysis.steps import step_run
from inference.models import AnalysisRequest, AnalysisStatus, AnalysisStep, StepKind, StepStatus
from patients.models import Patient

logger = logging.getLogger(__name__)

# A message is (what, id, queue): ("advance", request_id, "default") or ("step", step_id, queue).
Message = tuple[str, int, str]
Dispatcher = Callable[[list[Message]], None]

# Weight of each kind of step in the progress bar (all imaging steps together share theirs).
_PROGRESS_WEIGHT = {StepKind.IMAGING: 60, StepKind.RISK: 10, StepKind.FUSION: 15, StepKind.REPORT: 15}
_STEP_NAME = {StepKind.IMAGING: "running model", StepKind.RISK: "scoring", StepKind.FUSION: "fusing", StepKind.REPORT: "writing report"}


@contextmanager
def _workflow_transaction() -> Iterator[None]:
    """A transaction for the workflow's own bookkeeping: claiming, finishing and advancing steps.

    It commits without waiting for the WAL flush. Waiting for the flush made up most of the
    dispatch latency: about a dozen commits per analysis. If PostgreSQL itself crashes within
    the flush delay (a fraction of a second), such a commit can be lost. The step then looks
    unfinished and the sweeper re-drives it; every step is idempotent. Two things keep full
    durability: what the user saved, the request (``analysis_request_create``), and the report,
    which its step writes in a transaction of its own.
    """
    with atomic_without_flush_wait():
        yield


def _steps_plan(series_uids: list[str], model_keys: list[str]) -> list[dict[str, Any]]:
    plan: list[dict[str, Any]] = []
    for model_key in model_keys:
        for series_uid in series_uids or [""]:
            plan.append(
                {"key": f"imaging:{model_key}:{series_uid}", "kind": StepKind.IMAGING, "order": 10,
                 "series_uid": series_uid, "model_key": model_key}
            )
    plan.append({"key": "risk", "kind": StepKind.RISK, "order": 10})
    plan.append({"key": "fusion", "kind": StepKind.FUSION, "order": 20})
    plan.append({"key": "report", "kind": StepKind.REPORT, "order": 30})
    return plan


class AnalysisCreated(NamedTuple):
    analysis: AnalysisRequest
    created: bool
    # The steps this call stored (so that the answer needs no query for them); None for a repeat.
    steps: list[AnalysisStep] | None


def analysis_request_create(
    *,
    actor: Any,
    patient: Patient,
    series_uids: list[str],
    model_keys: list[str],
    idempotency_key: str,
    options: dict[str, Any] | None = None,
    request: Any = None,
    dispatch: Dispatcher | None = None,
) -> AnalysisCreated:
    """Create the request (or return the one this idempotency key already made).

    The key's unique constraint tells a repeat: the insert is tried first and a repeat rolls back,
    rather than every new request paying for a lookup first.
    """
    known = analysis_models()
    unknown = sorted(set(model_keys) - set(known))
    if unknown:
        raise UnknownModel(f"Unknown model: {', '.join(unknown)}.", detail={"unknown": unknown, "known": sorted(known)})
    if model_keys and not series_uids and any(known[k].kind != "noop" for k in model_keys):
        raise NothingToAnalyse("Imaging models need at least one series.")
    try:
        with transaction.atomic():
            analysis = AnalysisRequest.objects.create(
                patient=patient, requested_by=actor, idempotency_key=idempotency_key,
                series_uids=list(series_uids), model_keys=list(model_keys), options=options or {},
                current_step="queued",
            )
            steps = [AnalysisStep(request=analysis, **step) for step in _steps_plan(list(series_uids), list(model_keys))]
            first_steps = _first_steps_mark_dispatched(steps)
            AnalysisStep.objects.bulk_create(steps)
            messages: list[Message] = [("step", step.pk, _step_queue(step)) for step in first_steps]
            audit_record(
                actor=actor, action=AuditAction.CREATE, object_type="analysis_request", object_id=analysis.pk,
                patient_id=patient.pk, request=request, detail={"models": list(model_keys), "series_count": len(series_uids)},
            )
            # The work goes out before the notification: hooks run in registration order, and
            # the worker's start is what the user waits for.
            transaction.on_commit(lambda: (dispatch or messages_send)(messages))
            analysis_publish(analysis, event_type="analysis.status")
    except IntegrityError:
        # This key made a request already (earlier, or at this moment in another transaction).
        return AnalysisCreated(AnalysisRequest.objects.get(requested_by=actor, idempotency_key=idempotency_key), False, None)
    return AnalysisCreated(analysis, True, steps)


def analysis_request_start(
    *, actor: Any, patient: Patient, series_uids: list[str], model_keys: list[str], idempotency_key: str,
    options: dict[str, Any] | None = None, request: Any = None,
) -> AnalysisCreated:
    """A user's request for an analysis: every series must be the patient's (404
    ``series_not_found``), and a key that already made a request for another patient answers
    the same 404 as a missing analysis."""
    series_of_patient_check(patient=patient, series_uids=series_uids)
    started = analysis_request_create(
        actor=actor, patient=patient, series_uids=series_uids, model_keys=model_keys,
        idempotency_key=idempotency_key, options=options, request=request,
    )
    if started.analysis.patient_id != patient.pk:
        raise NotFound("Analysis not found.")
    return started


def _first_steps_mark_dispatched(steps: list[AnalysisStep]) -> list[AnalysisStep]:
    """Mark the first steps dispatched before they are stored, and return them.

    This is what the first ``analysis_advance`` would do; doing it in the creating transaction
    saves a broker round trip and a worker transaction before the first model starts. If their
    messages are lost (the broker is down at commit), the sweeper finds the steps dispatched
    and unclaimed, and re-drives them, as for any lost message.
    """
    first = min(step.order for step in steps)
    now = timezone.now()
    ready = [step for step in steps if step.order == first]
    for step in ready:
        step.status = StepStatus.DISPATCHED
        step.dispatched_at = now
    return ready


def messages_send(messages: list[Message]) -> None:
    """Send workflow messages to Celery; they carry ids only, never patient data."""
    for what, object_id, queue in messages:
        task_send(TASK_ADVANCE if what == "advance" else TASK_STEP, object_id=object_id, queue=queue)


def _step_queue(step: AnalysisStep) -> str:
    if step.kind == StepKind.IMAGING:
        model = analysis_models().get(step.model_key)
        return model.queue if model else "gpu"
    return "default"


# Steps quick enough to run in whichever worker finished the step before them.
_CHEAP_KINDS = (StepKind.FUSION, StepKind.REPORT)


def analysis_advance(*, request_id: int, dispatch: Dispatcher | None = None, inline_cheap_steps: bool = False) -> None:
    """Dispatch the steps that are ready, or finish the request. Safe to call any number of times.

    With ``inline_cheap_steps`` (inside a worker), fusion and report run here at once instead
    of making another round trip through the broker; they are idempotent either way.
    """
    with _workflow_transaction():
        analysis = AnalysisRequest.objects.select_for_update().filter(pk=request_id).first()
        if analysis is None or analysis.is_finished:
            return
        steps = list(analysis.steps.select_for_update().order_by("order", "id"))
        changed: set[str] = set()
        _advance_locked(analysis, steps, dispatch=dispatch, inline_cheap_steps=inline_cheap_steps, changed=changed)
        _request_save(analysis, changed)


def _request_save(analysis: AnalysisRequest, changed: set[str]) -> None:
    """Store the request's changed fields in one UPDATE. Within a transaction the request's
    fields change in several places (progress, then the next step's name, or the end); one
    round trip for all of them keeps the workflow transaction short."""
    if changed:
        analysis.save(update_fields=sorted(changed | {"updated_at"}))
        changed.clear()


def _advance_locked(
    analysis: AnalysisRequest, steps: list[AnalysisStep], *, dispatch: Dispatcher | None, inline_cheap_steps: bool,
    changed: set[str],
) -> bool:
    """The advance itself, inside a workflow transaction that holds the locks of the request and
    of all its steps (taken in that order). Fails or finishes the request, or hands out the steps
    that are ready: as messages, or, for cheap steps inside a worker, claimed here and run once
    this transaction commits (the claim ``analysis_step_execute`` would make in a transaction of
    its own). The request's own changes are added to ``changed`` for the caller to save. True
    when it announced the request's new state to the watching clients."""
    if analysis.is_finished:
        return False
    failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
    if failed is not None:
        _request_fail(analysis, code=failed.error_code or "step_failed", message=failed.error_message, changed=changed)
        return True
    open_steps = [s for s in steps if s.status != StepStatus.DONE]
    if not open_steps:
        analysis.status = AnalysisStatus.SUCCEEDED
        analysis.current_step = "done"
        analysis.progress = 100
        analysis.finished_at = timezone.now()
        changed.update(("status", "current_step", "progress", "finished_at"))
        report_step = next((s for s in steps if s.kind == StepKind.REPORT), None)
        report_id = (report_step.result or {}).get("report_id") if report_step else None
        analysis_publish(analysis, event_type="report.ready", report_id=report_id)
        return True
    lowest = min(s.order for s in open_steps)
    ready = [s for s in open_steps if s.order == lowest and s.status == StepStatus.PENDING]
    if not ready:
        return False
    now = timezone.now()
    if inline_cheap_steps and dispatch is None and all(s.kind in _CHEAP_KINDS for s in ready):
        for step in ready:
            _step_claim(analysis, step, now=now, dispatched=True, changed=changed)
        analysis_publish(analysis, step_key=ready[0].key)
        # The steps as this transaction leaves them: what the cheap steps read (the results
        # before theirs), without loading them again.
        transaction.on_commit(lambda: _run_inline(ready, steps_in_hand=steps))
        return True
    for step in ready:
        step.status = StepStatus.DISPATCHED
        step.dispatched_at = now
        step.save(update_fields=["status", "dispatched_at"])
    if analysis.status == AnalysisStatus.QUEUED:
        analysis.status = AnalysisStatus.RUNNING
        changed.add("status")
    messages: list[Message] = [("step", s.pk, _step_queue(s)) for s in ready]
    transaction.on_commit(lambda: (dispatch or messages_send)(messages))
    return False


def _progress_of(steps: list[AnalysisStep]) -> int:
    """Percent of the request's work done: each kind's weight times its share of finished steps,
    over the weights of the kinds this request has. The risk step often ends while a model still
    runs; it then counts for its own share, not for everything before it."""
    total = done = 0.0
    for kind, weight in _PROGRESS_WEIGHT.items():
        of_kind = [s for s in steps if s.kind == kind]
        if of_kind:
            total += weight
            done += weight * sum(s.status == StepStatus.DONE for s in of_kind) / len(of_kind)
    return round(100 * done / total) if total else 0


def _step_claim(
    analysis: AnalysisRequest, step: AnalysisStep, *, now: datetime, changed: set[str], dispatched: bool = False
) -> None:
    """Mark ``step`` running in this worker (both rows locked by the caller's transaction); the
    request's changes are added to ``changed``."""
    step.status = StepStatus.RUNNING
    step.attempts += 1
    step.started_at = now
    step.heartbeat_at = now
    fields = ["status", "attempts", "started_at", "heartbeat_at"]
    if dispatched:
        step.dispatched_at = now
        fields.append("dispatched_at")
    step.save(update_fields=fields)
    analysis.current_step = _STEP_NAME[StepKind(step.kind)]
    analysis.status = AnalysisStatus.RUNNING
    changed.update(("current_step", "status"))


def _run_inline(steps: list[AnalysisStep], *, steps_in_hand: list[AnalysisStep]) -> None:
    """Run steps this worker has claimed; one that cannot run here goes to the broker.

    No heartbeat: these steps take milliseconds, far less than the sweeper's staleness limit,
    and a thread started and joined per step cost more than the step's own queries."""
    for step in steps:
        try:
            _step_run_claimed(step, runner=None, dispatch=None, steps_in_hand=steps_in_hand)
        except Exception as exc:
            # The step is claimed: hand it to a worker, or it would wait for the sweeper.
            logger.warning("inline step %s failed (%s); queueing it", step.pk, type(exc).__name__)
            messages_send([("step", step.pk, "default")])


def _request_fail(analysis: AnalysisRequest, *, code: str, message: str, changed: set[str]) -> None:
    analysis.status = AnalysisStatus.FAILED
    analysis.current_step = "failed"
    analysis.error_code = code[:64]
    analysis.error_message = message[:500]
    analysis.finished_at = timezone.now()
    changed.update(("status", "current_step", "error_code", "error_message", "finished_at"))
    analysis_publish(analysis, event_type="analysis.status")


def _transient_errors() -> tuple[type[BaseException], ...]:
    return (*TRANSIENT_ERRORS, SoftTimeLimitExceeded)


@contextmanager
def _heartbeat(step_id: int, every_s: float) -> Iterator[None]:
    """Touch the step's heartbeat while it runs, so the sweeper can tell slow from dead."""
    stop = threading.Event()

    def beat() -> None:

        try:
            while not stop.wait(every_s):
                AnalysisStep.objects.filter(pk=step_id, status=StepStatus.RUNNING).update(heartbeat_at=timezone.now())
        except Exception:  # a failed heartbeat must never break the step itself
            logger.warning("heartbeat failed for step %s", step_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 1)


def _request_of_step_lock(step_id: int) -> AnalysisRequest | None:
    """The request a step belongs to, found through the step and locked in one statement
    (FOR UPDATE OF the request alone: its steps are locked after it, never in passing)."""
    return AnalysisRequest.objects.select_for_update(of=("self",)).filter(steps__id=step_id).first()


def _request_and_step_lock(step_id: int) -> tuple[AnalysisRequest, AnalysisStep] | None:
    """Lock a step's request, then the step: the one order every transaction here takes its
    row locks in (``analysis_advance`` locks the request, then its steps). Taking them the
    other way round deadlocked two workers finishing sibling steps at the same moment."""
    analysis = _request_of_step_lock(step_id)
    if analysis is None:
        return None
    step = AnalysisStep.objects.select_for_update().get(pk=step_id)
    step.request = analysis
    return analysis, step


def analysis_step_execute(
    *, step_id: int, runner: Callable[[AnalysisStep], dict[str, Any]] | None = None, dispatch: Dispatcher | None = None
) -> None:
    with _workflow_transaction():
        locked = _request_and_step_lock(step_id)
        if locked is None:
            return
        analysis, step = locked
        if analysis.is_finished:
            return
        if step.status in (StepStatus.DONE, StepStatus.FAILED):
            # A duplicate delivery of finished work: do nothing again, but make sure the
            # workflow moves on, in case the advance that followed it was lost.
            request_id = step.request_id
            transaction.on_commit(lambda: (dispatch or messages_send)([("advance", request_id, "default")]))
            return
        changed: set[str] = set()
        _step_claim(analysis, step, now=timezone.now(), changed=changed)
        _request_save(analysis, changed)
        analysis_publish(analysis, step_key=step.key)
    _step_run_claimed(step, runner=runner, dispatch=dispatch)


def _step_run_claimed(
    step: AnalysisStep, *, runner: Callable[[AnalysisStep], dict[str, Any]] | None, dispatch: Dispatcher | None,
    steps_in_hand: list[AnalysisStep] | None = None,
) -> None:
    """Run a step this worker has claimed, outside any transaction, and store its outcome.

    ``steps_in_hand``: the request's steps as the claiming transaction left them, for a step
    claimed inline (which also runs without a heartbeat, see ``_run_inline``)."""
    step_id = step.pk
    beating = nullcontext() if steps_in_hand is not None else _heartbeat(step_id, settings.ANALYSIS_HEARTBEAT_S)
    try:
        with beating:
            result = runner(step) if runner is not None else step_run(step, steps_in_hand=steps_in_hand)
    except StepFailed as exc:
        _step_finish(step_id=step_id, status=StepStatus.FAILED, error_code=exc.code, error_message=exc.message, dispatch=dispatch)
        return
    except Exception as exc:
        if isinstance(exc, _transient_errors()):
            raise  # the task retries with backoff; the step stays claimable
        logger.exception("step %s failed unexpectedly", step_id)
        _step_finish(step_id=step_id, status=StepStatus.FAILED, error_code="internal_error",
                     error_message=f"{type(exc).__name__} in step", dispatch=dispatch)
        return
    _step_finish(step_id=step_id, status=StepStatus.DONE, result=result, dispatch=dispatch)


def _step_finish(
    *, step_id: int, status: str, result: dict[str, Any] | None = None, error_code: str = "",
    error_message: str = "", dispatch: Dispatcher | None = None,
) -> None:
    """Store a step's outcome and, in a worker, advance the request in the same transaction.

    Storing and advancing were two transactions, and the advance then claimed the next cheap
    step in a third: each took the request's lock again and waited for its own commit. With a
    dispatcher (the broker), the advance still goes as a message.
    """
    with _workflow_transaction():
        analysis = _request_of_step_lock(step_id)
        if analysis is None:
            return
        steps = list(analysis.steps.select_for_update().order_by("order", "id"))
        step = next(s for s in steps if s.pk == step_id)
        if step.status in (StepStatus.DONE, StepStatus.FAILED):
            return  # another delivery finished first; keep its result
        step.status = status
        step.result = result or {}
        step.error_code = error_code[:64]
        step.error_message = error_message[:500]
        step.finished_at = timezone.now()
        step.save(update_fields=["status", "result", "error_code", "error_message", "finished_at"])
        changed: set[str] = set()
        if status == StepStatus.DONE:
            analysis.progress = max(analysis.progress, _progress_of(steps))
            changed.add("progress")
            if step.kind == StepKind.IMAGING:
                # A model's end is always its own event: the portal shows it, and it is the
                # benchmark's mark for "model end".
                analysis_publish(analysis, step_key=step.key)
        # Every watching socket gets every event, so none goes out for nothing: the end of
        # fusion or of the report is announced by what follows at once (the report's start, the
        # request's end), and the risk step's end likewise when fusion starts in this transaction.
        risk_done = status == StepStatus.DONE and step.kind == StepKind.RISK
        if dispatch is not None:
            _request_save(analysis, changed)
            if risk_done:
                analysis_publish(analysis, step_key=step.key)
            request_id = analysis.pk
            transaction.on_commit(lambda: dispatch([("advance", request_id, "default")]))
            return
        announced = _advance_locked(analysis, steps, dispatch=None, inline_cheap_steps=True, changed=changed)
        _request_save(analysis, changed)
        if not announced and risk_done:
            analysis_publish(analysis, step_key=step.key)


def step_fail_permanently(*, step_id: int, code: str, message: str) -> None:
    _step_finish(step_id=step_id, status=StepStatus.FAILED, error_code=code, error_message=message)


def analysis_sweep(*, dispatch: Dispatcher | None = None, now: Any = None) -> dict[str, int]:
    """Re-drive steps whose worker died; fail what cannot finish. Run periodically."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.ANALYSIS_STEP_STALE_S)
    redriven = failed = 0
    to_advance: list[int] = []
    stale = AnalysisStep.objects.filter(
        status__in=[StepStatus.DISPATCHED, StepStatus.RUNNING], request__status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING]
    ).exclude(heartbeat_at__gte=stale_before).exclude(dispatched_at__gte=stale_before, heartbeat_at__isnull=True)
    for step_id in stale.values_list("pk", flat=True):
        with _workflow_transaction():
            locked = _request_and_step_lock(step_id)
            if locked is None:
                continue
            analysis, step = locked
            if step.status not in (StepStatus.DISPATCHED, StepStatus.RUNNING):
                continue
            if step.attempts >= settings.ANALYSIS_MAX_ATTEMPTS:
                step.status = StepStatus.FAILED
                step.error_code = "step_stuck"
                step.error_message = f"Step {step.key} did not finish after {step.attempts} attempts."
                step.finished_at = now
                step.save(update_fields=["status", "error_code", "error_message", "finished_at"])
                failed += 1
            else:
                step.status = StepStatus.PENDING
                step.save(update_fields=["status"])
                AnalysisRequest.objects.filter(pk=analysis.pk).update(redrive_count=analysis.redrive_count + 1)
                redriven += 1
            to_advance.append(step.request_id)
    deadline_before = now - timedelta(seconds=settings.ANALYSIS_DEADLINE_S)
    for analysis in AnalysisRequest.objects.filter(
        status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING], created_at__lt=deadline_before
    ):
        with _workflow_transaction():
            overdue = AnalysisRequest.objects.select_for_update().get(pk=analysis.pk)
            if not overdue.is_finished:
                changed: set[str] = set()
                _request_fail(overdue, code="deadline_exceeded", message="The analysis did not finish in time.", changed=changed)
                _request_save(overdue, changed)
                failed += 1
    # Requests that stopped moving with no step in flight: an advance message was lost (the
    # broker was down at commit, or restarted without persistence). Advancing is idempotent.
    for request_id in AnalysisRequest.objects.filter(
        status__in=[AnalysisStatus.QUEUED, AnalysisStatus.RUNNING], updated_at__lt=stale_before
    ).values_list("pk", flat=True):
        to_advance.append(request_id)
    for request_id in sorted(set(to_advance)):
        analysis_advance(request_id=request_id, dispatch=dispatch)
    return {"redriven": redriven, "failed": failed}
