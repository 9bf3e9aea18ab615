"""The one module that owns realtime group names and event types.

Events are notifications carrying ids, step names, progress and status only, never patient
data; a client fetches details over REST. Domain code calls ``event_publish_on_commit``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from django.db import transaction

PUBLISH_TIMEOUT_S = 5.0

EVENT_TYPES = frozenset(
    {"analysis.status", "analysis.progress", "report.ready", "record.changed", "state.snapshot"}
)


def patient_group(patient_id: int) -> str:
    return f"patient.{patient_id}"


def request_group(request_id: int) -> str:
    return f"analysis.{request_id}"


def event_publish(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": event_type, **payload}
    # Encoded here once, not once per socket by every consumer in the group.
    message = {"type": "cdss.event", "event": event, "text": json.dumps(event, separators=(",", ":"))}

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))

    asyncio.run_coroutine_threadsafe(send_all(), _PUBLISHER.get()).result(timeout=PUBLISH_TIMEOUT_S)


class _PublisherLoop:
    """One long-lived event loop per process for publishing from synchronous code.

    channels_redis keeps its Redis connections per event loop. ``async_to_sync`` called from a
    worker (no running loop) made a fresh loop, hence fresh connections, for every event: about
    25 ms each, several per analysis step. Here the loop, and its connections, live as long as
    the process; a forked child (a Celery pool process) starts its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="cdss-event-publisher", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_PUBLISHER = _PublisherLoop()


def event_publish_on_commit(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
    # Notifications are best effort: if Redis is away, the work still commits and clients
    # catch up from the state snapshot they get when they (re)connect.
    transaction.on_commit(lambda: event_publish(groups=groups, event_type=event_type, payload=payload), robust=True)
