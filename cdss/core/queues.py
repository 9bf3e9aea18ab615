"""Celery queue names: the logical names of the code ("default", "gpu") and the real ones.

A profile may add a suffix (the test profile does), so that a worker started by the test
suite never takes a running demo's tasks, nor the demo's worker the suite's, even on a shared
Redis.
"""

from __future__ import annotations

from django.conf import settings


def queue_name(logical: str) -> str:
    return f"{logical}{settings.CDSS_QUEUE_SUFFIX}"
