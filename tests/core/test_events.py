"""Publishing notifications from synchronous code (views, Celery tasks)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.conf import settings

from cdss.core.events import event_publish


def _connections_received() -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"])


def test_publishing_reuses_its_redis_connections() -> None:
    """A fresh event loop per event (``async_to_sync`` from a worker) opened fresh Redis
    connections for every notification, about 25 ms each; the publisher keeps one loop."""

    def publish_many() -> None:  # a thread with no event loop, like a Celery task
        for _ in range(20):
            event_publish(groups=["patient.0", "analysis.0"], event_type="analysis.status", payload={"request_id": 0})

    thread = threading.Thread(target=publish_many)
    thread.start()
    thread.join()  # warm: the publisher's connections exist now
    before = _connections_received()
    thread = threading.Thread(target=publish_many)
    thread.start()
    thread.join()
    assert _connections_received() - before <= 1


def test_published_event_reaches_a_group_member() -> None:
    layer = get_channel_layer()
    assert layer is not None

    async def listen() -> dict[str, Any]:
        channel = await layer.new_channel()
        await layer.group_add("patient.424242", channel)
        try:
            await asyncio.to_thread(
                event_publish, groups=["patient.424242"], event_type="record.changed", payload={"patient_id": 424242}
            )
            return await asyncio.wait_for(layer.receive(channel), timeout=5)
        finally:
            await layer.group_discard("patient.424242", channel)

    message = asyncio.run(listen())
    assert message["type"] == "cdss.event"
    assert message["event"] == {"type": "record.changed", "patient_id": 424242}
    assert json.loads(message["text"]) == message["event"]  # encoded once for every socket


def test_events_reach_a_subscriber_in_order_through_redis() -> None:
    """Events are published from the calling thread straight to Redis (not through the layer's
    own event loop), on the channel the layer subscribes a group's members to, in order."""
    from cdss.core.events import _DirectPublisher

    layer = get_channel_layer()
    assert _DirectPublisher.for_layer(layer) is not None
    assert layer is not None

    async def listen() -> list[int]:
        channel = await layer.new_channel()
        await layer.group_add("analysis.515151", channel)
        try:
            def publish() -> None:
                for n in range(40):
                    event_publish(groups=["analysis.515151"], event_type="analysis.progress", payload={"progress": n})

            await asyncio.to_thread(publish)
            return [(await asyncio.wait_for(layer.receive(channel), timeout=5))["event"]["progress"] for _ in range(40)]
        finally:
            await layer.group_discard("analysis.515151", channel)

    assert asyncio.run(listen()) == list(range(40))
