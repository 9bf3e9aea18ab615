"""The one module that owns realtime group names and event types.

Events are notifications carrying ids, step names, progress and status only, never patient
data; a client fetches details over REST. Domain code calls ``event_publish_on_commit``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction

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
    message = {"type": "cdss.event", "event": {"type": event_type, **payload}}
    for group in groups:
        async_to_sync(layer.group_send)(group, message)


def event_publish_on_commit(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
    # Notifications are best effort: if Redis is away, the work still commits and clients
    # catch up from the state snapshot they get when they (re)connect.
    transaction.on_commit(lambda: event_publish(groups=groups, event_type=event_type, payload=payload), robust=True)
