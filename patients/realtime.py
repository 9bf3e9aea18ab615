"""Sockets bound to a user's sight of a patient: they close the moment that sight ends.

A share grant ends by revocation (``patients.access.share_grant_end`` publishes
``access.revoked`` to the user's access group for that patient) or by its expiry (a timer set
when the socket is authorised). Either way the socket is closed with CLOSE_ACCESS_ENDED, the
same code as a patient that is not found, so nothing about the record leaks after the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from cdss.core.events import access_group
from patients.access import patient_access_ends_at

CLOSE_ACCESS_ENDED = 4404
CLOSE_UNAUTHENTICATED = 4401


class GroupSocketConsumer(AsyncJsonWebsocketConsumer):
    """A signed-in user's socket: it joins its groups once authorised, leaves them on
    disconnect, and forwards ``cdss.event`` messages as the publisher encoded them."""

    joined_groups: list[str]

    async def user_signed_in(self) -> Any | None:
        """The socket's user; None after closing the socket with CLOSE_UNAUTHENTICATED."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        return user

    async def groups_join(self, *groups: str) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined_groups = [*getattr(self, "joined_groups", []), group]

    async def groups_leave(self) -> None:
        for group in getattr(self, "joined_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined_groups = []

    async def event_forward(self, message: dict[str, Any]) -> None:
        # The publisher encoded the event once for every socket in the group.
        text = message.get("text")
        await self.send(text_data=text if isinstance(text, str) else json.dumps(message["event"]))


class AccessBoundConsumer(GroupSocketConsumer):
    """Call ``access_bind`` after authorising the user for the patient, before ``accept``."""

    _access_groups: list[str]
    _access_timer: asyncio.TimerHandle | None = None

    async def access_bind(self, user: Any, patient_id: int) -> None:
        group = access_group(user.pk, patient_id)
        self._access_groups = [*getattr(self, "_access_groups", []), group]
        await self.channel_layer.group_add(group, self.channel_name)
        self.access_until(await database_sync_to_async(patient_access_ends_at)(user, patient_id))

    def access_until(self, ends: dt.datetime | None) -> None:
        """Close the socket at ``ends`` (the earliest of the times given so far)."""
        if ends is None:
            return
        delay = max((ends - timezone.now()).total_seconds(), 0.0)
        if self._access_timer is not None:
            if self._access_timer.when() <= asyncio.get_running_loop().time() + delay:
                return
            self._access_timer.cancel()
        self._access_timer = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self.access_ended())
        )

    async def access_ended(self) -> None:
        await self.close(code=CLOSE_ACCESS_ENDED)

    async def access_unbind(self) -> None:
        if self._access_timer is not None:
            self._access_timer.cancel()
            self._access_timer = None
        for group in getattr(self, "_access_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self._access_groups = []

    def access_revoked_in(self, message: dict[str, Any]) -> bool:
        """True for the layer message that says a grant of this socket's user ended."""
        event = message.get("event")
        return message.get("type") == "cdss.event" and isinstance(event, dict) and event.get("type") == "access.revoked"
