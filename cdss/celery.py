"""The Celery app: queues ``default`` (I/O, scoring, reports) and ``gpu`` (imaging models)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.dev")

app = Celery("cdss")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("gpu")]
app.conf.task_default_queue = "default"
app.conf.worker_hijack_root_logger = False
app.autodiscover_tasks()
