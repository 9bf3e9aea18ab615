"""Celery tasks: thin, idempotent wrappers that take ids only and call the analysis services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from inference.analysis.errors import StepFailed, TransientStepError

# Passing faults: the database, Redis or the PACS is briefly away. Retried with backoff.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, TransientStepError, ConnectionError, TimeoutError)


@shared_task(
    name="inference.analysis_advance", acks_late=True, autoretry_for=TRANSIENT,
    retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=20,
)
def analysis_advance_task(request_id: int) -> None:
    from inference.analysis.services import analysis_advance

    analysis_advance(request_id=request_id)


@shared_task(
    bind=True, name="inference.analysis_step", acks_late=True, autoretry_for=TRANSIENT,
    retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=20,
)
def analysis_step_task(self: Any, step_id: int) -> None:
    from inference.analysis.services import analysis_step_execute, step_fail_permanently

    try:
        analysis_step_execute(step_id=step_id)
    except SoftTimeLimitExceeded:
        step_fail_permanently(step_id=step_id, code="time_limit", message="The step ran past its time limit.")
    except StepFailed as exc:
        step_fail_permanently(step_id=step_id, code=exc.code, message=exc.message)


@shared_task(name="inference.analysis_sweep", acks_late=True, autoretry_for=TRANSIENT, max_retries=3)
def analysis_sweep_task() -> dict[str, int]:
    from inference.analysis.services import analysis_sweep

    return analysis_sweep()
