"""Realtime groups and events live in ``cdss.core.events`` (every app publishes through it)."""

from cdss.core.events import (
    EVENT_TYPES,
    event_publish,
    event_publish_on_commit,
    patient_group,
    request_group,
)

__all__ = ["EVENT_TYPES", "event_publish", "event_publish_on_commit", "patient_group", "request_group"]
