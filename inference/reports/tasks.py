"""Worker tasks of reports: storing a signed report's DICOM SR in the PACS, retried until done.

Registered by ``inference.apps`` (Celery discovers only ``<app>.tasks``). Ids only in the
arguments: the task reads everything else from the database.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from inference.models import Report
from inference.reports.dicom_sr import SrUnavailable, sr_store_for_report

logger = logging.getLogger(__name__)

TASK_SR_STORE = "inference.report_sr_store"
TASK_SR_SWEEP = "inference.report_sr_sweep"
# The database, Redis or the PACS briefly away (SrUnavailable: headers unreadable, store refused).
SR_RETRY_FOR = (OperationalError, InterfaceError, BrokerError, SrUnavailable, ConnectionError, TimeoutError, OSError)
# A pending SR this old without a store is enqueued again by the sweep (a lost task, a broker
# that was down at signing, retries spent while the PACS was away).
SR_SWEEP_AFTER = timedelta(minutes=2)


@shared_task(name=TASK_SR_STORE, acks_late=True, autoretry_for=SR_RETRY_FOR, retry_backoff=2,
             retry_backoff_max=120, retry_jitter=True, max_retries=12)
def report_sr_store_task(report_id: int) -> str:
    return str(sr_store_for_report(report_id).get("status"))


def sr_store_enqueue(report_id: int) -> None:
    """After the signing commits; a broker that is down leaves the SR pending for the sweep."""
    try:
        # No publish retries: with the broker down this fails at once instead of holding the
        # clinician's request.
        report_sr_store_task.apply_async(args=[report_id], retry=False)
    except Exception as exc:  # signing never fails for the SR
        logger.warning("report %s: DICOM SR not queued (%s); the sweep will", report_id, type(exc).__name__)


@shared_task(name=TASK_SR_SWEEP, acks_late=True)
def report_sr_sweep_task() -> int:
    """Enqueue again the SRs still pending after ``SR_SWEEP_AFTER``."""
    cutoff = timezone.now() - SR_SWEEP_AFTER
    ids = list(Report.objects.filter(sr__status="pending", signed_at__lt=cutoff).values_list("pk", flat=True)[:100])
    for report_id in ids:
        sr_store_enqueue(report_id)
    return len(ids)
