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

import redis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

# Private to channels_redis: the shard choice its pub/sub layer makes. Pinned in
# constraints.txt; tests/core/test_events.py fails if the layer stops agreeing with it.
from channels_redis.utils import _consistent_hash, decode_hosts
from django.conf import settings
from django.db import transaction

PUBLISH_TIMEOUT_S = 5.0

EVENT_TYPES = frozenset(
    {"analysis.status", "analysis.progress", "report.ready", "record.changed", "state.snapshot",
     "access.revoked", "consultation.changed", "message.created", "message.read",
     "intake.progress"}
)


def patient_group(patient_id: int) -> str:
    return f"patient.{patient_id}"


def request_group(request_id: int) -> str:
    return f"analysis.{request_id}"


def access_group(user_id: int, patient_id: int) -> str:
    """Every socket of one user on one patient: told ``access.revoked`` when a share ends."""
    return f"access.{user_id}.{patient_id}"


def user_group(user_id: int) -> str:
    """Every socket of one user (a consultant's inbox)."""
    return f"user.{user_id}"


def thread_group(thread_id: int) -> str:
    return f"thread.{thread_id}"


def consultation_group(consultation_id: int) -> str:
    """The sockets in one consultation's room."""
    return f"consultation.{consultation_id}"


def event_publish(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": event_type, **payload}
    # Encoded here once, not once per socket by every consumer in the group.
    message = {"type": "cdss.event", "event": event, "text": json.dumps(event, separators=(",", ":"))}
    direct = _DirectPublisher.for_layer(layer)
    if direct is not None:
        direct.publish(groups, message)
        return

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))

    asyncio.run_coroutine_threadsafe(send_all(), _PUBLISHER.get()).result(timeout=PUBLISH_TIMEOUT_S)


class _DirectPublisher:
    """Publishes to groups of channels_redis's pub/sub layer from synchronous code, in the
    calling thread: what the layer's ``group_send`` does (PUBLISH the serialised message on the
    group's channel, on the Redis host the group hashes to), with a synchronous client and one
    pipelined round trip for all the groups of an event.

    Waiting on an event loop thread per event costs several times more, several times per
    analysis (figures in docs/ARCHITECTURE.md). The layer's own serialiser is used; the group
    channel name and shard choice follow channels_redis 4 (``tests/core/test_events.py`` sends
    through here and receives through the layer, so a change there fails a test).
    """

    _by_process: dict[tuple[int, int], _DirectPublisher] = {}
    _lock = threading.Lock()

    def __init__(self, layer: Any, config: dict[str, Any]) -> None:
        self._layer = layer
        self._prefix = config.get("prefix", "asgi")
        self._clients = []
        for host in decode_hosts(config.get("hosts")):
            options = {k: v for k, v in host.items() if k != "address"}
            client = redis.Redis.from_url(host["address"], **options) if "address" in host else redis.Redis(**options)
            self._clients.append(client)

    @classmethod
    def for_layer(cls, layer: Any) -> _DirectPublisher | None:
        if not isinstance(layer, RedisPubSubChannelLayer):
            return None
        key = (id(layer), os.getpid())  # a forked child (a Celery pool process) makes its own clients
        publisher = cls._by_process.get(key)
        if publisher is None:
            layers: dict[str, Any] = settings.CHANNEL_LAYERS
            config: dict[str, Any] = layers["default"].get("CONFIG", {})
            hosts = config.get("hosts") or []
            if any(isinstance(h, dict) and "master_name" in h for h in hosts):
                return None  # Sentinel: left to the layer itself
            with cls._lock:
                publisher = cls._by_process.setdefault(key, cls(layer, config))
        return publisher

    def group_channel(self, group: str) -> str:
        """The Redis channel the layer subscribes a group's members to."""
        return f"{self._prefix}__group__{group}"

    def client_index(self, channel: str) -> int:
        """Which of the layer's Redis hosts carries ``channel``."""
        return _consistent_hash(channel, len(self._clients))

    def publish(self, groups: list[str], message: dict[str, Any]) -> None:
        data = self._layer.serialize(message)
        by_client: dict[int, list[str]] = {}
        for group in groups:
            channel = self.group_channel(group)
            by_client.setdefault(self.client_index(channel), []).append(channel)
        for index, channels in by_client.items():
            with self._clients[index].pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, data)
                pipe.execute()


class _PublisherLoop:
    """One long-lived event loop per process for publishing from synchronous code to a layer
    other than Redis pub/sub (the in-memory layer of some tests).

    channels_redis keeps its Redis connections per event loop. ``async_to_sync`` called from a
    worker (no running loop) makes a fresh loop, hence fresh connections, for every event,
    several per analysis step. Here the loop, and its connections, live as long as the process;
    a forked child (a Celery pool process) starts its own.
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
