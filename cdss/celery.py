"""The Celery app: queues ``default`` (I/O, scoring, reports) and ``gpu`` (imaging models)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from django.conf import settings
from django.db import close_old_connections
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.dev")

app = Celery("cdss")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Real queue names come from the settings (the test profile suffixes them; see cdss.core.queues).
app.conf.task_queues = [Queue(name) for name in settings.CDSS_QUEUES]
app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
app.conf.worker_hijack_root_logger = False
app.autodiscover_tasks()
# The remote control command /readyz asks every worker (which database it works on).
import cdss.core.worker_identity  # noqa: E402,F401

# Celery's Django fix-up closes every database connection before and after each task, and
# with Django's connection pool it closes the pool itself, so every task in a pool process
# would open a new PostgreSQL connection (several tasks per analysis; figures in
# docs/ARCHITECTURE.md). Its closing is switched off by an unreachable reuse count; ``_connections_return`` hands the
# connections back instead, and the pool discards any that broke (e.g. PostgreSQL restarted).
# A forked pool process still drops the connections it inherited (the fix-up does that at
# process start whatever this count says).
app.conf.CELERY_DB_REUSE_MAX = 2**62


@signals.task_postrun.connect
def _connections_return(**_: Any) -> None:
    close_old_connections()
