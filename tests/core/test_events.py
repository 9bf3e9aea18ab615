"""Publishing notifications from synchronous code (views, Celery tasks)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import redis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from cdss.core.events import _DirectPublisher, event_publish


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


def test_direct_publisher_names_and_shards_groups_as_the_layer_does() -> None:
    """The publisher repeats channels_redis's private group channel naming and shard choice
    (``_get_group_channel_name``, ``_consistent_hash``); a release that changes either fails
    here, with no Redis needed (clients connect only on first use)."""
    config: dict[str, Any] = {
        "hosts": [{"address": f"redis://127.0.0.1:{port}/0"} for port in (6390, 6391, 6392)],
        "prefix": "pin",
    }
    layer = RedisPubSubChannelLayer(**config)
    publisher = _DirectPublisher(layer, config)

    async def layer_choices(groups: list[str]) -> list[tuple[str, int]]:
        loop_layer = layer._get_layer()
        answers = []
        for group in groups:
            channel = loop_layer._get_group_channel_name(group)
            answers.append((channel, loop_layer._shards.index(loop_layer._get_shard(channel))))
        return answers

    groups = [f"patient.{n}" for n in range(40)] + ["analysis.7", "user.3", "consultation.12"]
    ours = [(publisher.group_channel(g), publisher.client_index(publisher.group_channel(g))) for g in groups]
    theirs = asyncio.run(layer_choices(groups))
    assert ours == theirs
    assert len({index for _, index in ours}) == 3  # the groups really spread over the hosts
    message = {"type": "cdss.event", "event": {"type": "record.changed"}}
    assert layer.deserialize(layer.serialize(message)) == message
