"""Sending workflow messages to Celery by task name.

The workflow services send by name so that they never import the task module (which imports
them); the names are the tasks' registered names in ``inference.tasks``.
"""

from __future__ import annotations

from celery import current_app

from cdss.core.queues import queue_name

TASK_ADVANCE = "inference.analysis_advance"
TASK_STEP = "inference.analysis_step"
TASK_SWEEP = "inference.analysis_sweep"


def task_send(name: str, *, object_id: int, queue: str) -> None:
    """Queue one task that carries an id only, never patient data."""
    current_app.send_task(name, args=[object_id], queue=queue_name(queue))
