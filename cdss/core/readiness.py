"""Readiness probes for each backing service. Each returns None when healthy, else a reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import requests
from celery import current_app
from django.conf import settings
from django.db import connection

from cdss.core.worker_identity import database_identity

Probe = Callable[[], str | None]


def database_probe() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; the type is enough detail
        return f"database unreachable ({type(exc).__name__})"
    return None


def redis_probe() -> str | None:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.READINESS_TIMEOUT_S,
        socket_connect_timeout=settings.READINESS_TIMEOUT_S,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"redis unreachable ({type(exc).__name__})"
    finally:
        client.close()
    return None


def pacs_probe() -> str | None:
    auth = (
        (settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD or "")
        if settings.DICOMWEB_USERNAME
        else None
    )
    try:
        response = requests.get(
            f"{settings.DICOMWEB_URL}/studies",
            params={"limit": "1"},
            headers={"Accept": "application/dicom+json"},
            auth=auth,
            timeout=settings.READINESS_TIMEOUT_S,
        )
    except requests.RequestException as exc:
        return f"PACS unreachable ({type(exc).__name__})"
    if response.status_code not in (200, 204):
        return f"PACS answered HTTP {response.status_code}"
    return None


def workers_probe() -> str | None:
    """Every Celery queue needs at least one live worker consuming it, and every worker that
    consumes one must work on this process's database: a worker on another database (a test
    run's, a stale DATABASE_URL) takes requests it can never find, which then wait for ever."""
    try:
        replies = current_app.control.inspect(timeout=settings.READINESS_TIMEOUT_S).active_queues() or {}
        ours = set(settings.CDSS_QUEUES)
        consumers = sorted(name for name, queues in replies.items() if ours & {queue["name"] for queue in queues})
        identities: dict[str, Any] = {}
        if consumers:
            answers = current_app.control.broadcast(
                "cdss_database_identity", reply=True, destination=consumers, limit=len(consumers),
                timeout=settings.READINESS_TIMEOUT_S,
            ) or []
            identities = {name: body for answer in answers for name, body in answer.items()}
    except Exception as exc:  # broker down or unreachable
        return f"workers unreachable ({type(exc).__name__})"
    consumed = {queue["name"] for queues in replies.values() for queue in queues}
    missing = [queue for queue in settings.CDSS_QUEUES if queue not in consumed]
    if missing:
        return "no live worker on queue " + ", ".join(missing)
    mine = database_identity()
    elsewhere = [name for name in consumers if (identities.get(name) or {}).get("database") != mine]
    if elsewhere:
        return "worker on another database (cannot see this one's requests): " + ", ".join(elsewhere)
    return None


PROBES: dict[str, Probe] = {
    "database": database_probe,
    "redis": redis_probe,
    "pacs": pacs_probe,
    "workers": workers_probe,
}


def readiness_report() -> dict[str, str | None]:
    return {name: probe() for name, probe in PROBES.items()}
