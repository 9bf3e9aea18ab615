"""Which database a process works on, so that /readyz can tell a worker that consumes this
deployment's queues but writes to another database (a test worker on the demo's broker, a
worker with a stale DATABASE_URL): its tasks would never see the requests they are sent for.

The identity is the database's engine, host, port and name as this process's connection has
them: no query, so a worker answers it from its main process at once, even with a busy pool.
"""

from __future__ import annotations

import hashlib
from typing import Any

from celery.worker.control import control_command
from django.db import connection

_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def database_identity() -> str:
    db = connection.settings_dict
    host = str(db.get("HOST") or "")
    host = "local" if host in _LOCAL_HOSTS else host
    text = "|".join([connection.vendor, host, str(db.get("PORT") or ""), str(db.get("NAME") or "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@control_command()
def cdss_database_identity(state: Any) -> dict[str, str]:
    """Remote control command: ``app.control.broadcast("cdss_database_identity", reply=True)``."""
    return {"database": database_identity()}
