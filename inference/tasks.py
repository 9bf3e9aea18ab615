"""Celery tasks: thin, idempotent wrappers that take ids only and call the analysis services."""

from __future__ import annotations

import threading
from typing import Any

from celery import shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from inference.analysis.dispatch import TASK_ADVANCE, TASK_STEP, TASK_SWEEP
from inference.analysis.errors import TRANSIENT_ERRORS as TRANSIENT
from inference.analysis.errors import StepFailed
from inference.analysis.services import (
    analysis_advance,
    analysis_step_execute,
    analysis_sweep,
    step_fail_permanently,
)
from inference.cxr_intake import intake_run


@shared_task(
    name=TASK_ADVANCE, acks_late=True, autoretry_for=TRANSIENT,
    retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=20,
)
def analysis_advance_task(request_id: int) -> None:
    analysis_advance(request_id=request_id)


@shared_task(
    bind=True, name=TASK_STEP, acks_late=True, autoretry_for=TRANSIENT,
    retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=20,
)
def analysis_step_task(self: Any, step_id: int) -> None:
    try:
        analysis_step_execute(step_id=step_id)
    except SoftTimeLimitExceeded:
        step_fail_permanently(step_id=step_id, code="time_limit", message="The step ran past its time limit.")
    except StepFailed as exc:
        step_fail_permanently(step_id=step_id, code=exc.code, message=exc.message)


@shared_task(name=TASK_SWEEP, acks_late=True, autoretry_for=TRANSIENT, max_retries=3)
def analysis_sweep_task() -> dict[str, int]:
    return analysis_sweep()


@shared_task(name="inference.cxr_intake_run", acks_late=True, autoretry_for=TRANSIENT,
             retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=20)
def cxr_intake_run_task(job_id: int) -> None:
    intake_run(job_id=job_id)


@signals.worker_process_init.connect
def models_warm_in_background(**_: Any) -> threading.Thread | None:
    """Each pool process loads WORKER_WARM_MODELS beside its first tasks (Celery wants this
    signal's handlers back within seconds; a task for a model still loading waits for it)."""
    keys = list(settings.WORKER_WARM_MODELS)
    if not keys:
        return None
    # Here, not at module level: the web process imports this module and must not load torch.
    from inference.runtime.warm import models_warm

    thread = threading.Thread(target=models_warm, args=(keys,), name="models-warm", daemon=True)
    thread.start()
    return thread
