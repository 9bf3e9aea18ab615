"""A thread's live events (``message.created``, ``message.read``): ids only; the client reads
the messages over REST from its last id, so a reconnect misses nothing and shows nothing twice."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from cdss.core.events import thread_group
from messaging.services import thread_get_for_user
from patients.realtime import CLOSE_ACCESS_ENDED, AccessBoundConsumer


@database_sync_to_async
def _thread_authorise(user: Any, thread_id: int, consumer: Any) -> int | bool | None:
    """The thread's patient id (None for a thread about no patient), or False if not allowed."""
    try:
        thread = thread_get_for_user(user, thread_id, request=consumer)
    except NotFound:
        return False
    audit_record(actor=user, action=AuditAction.SUBSCRIBE, object_type="thread_events", object_id=thread.pk,
                 patient_id=thread.patient_id, request=consumer)
    return thread.patient_id


class ThreadEventsConsumer(AccessBoundConsumer):
    async def connect(self) -> None:
        user = await self.user_signed_in()
        if user is None:
            return
        thread_id = int(self.scope["url_route"]["kwargs"]["thread_id"])
        patient_id = await _thread_authorise(user, thread_id, self)
        if patient_id is False:
            await self.close(code=CLOSE_ACCESS_ENDED)
            return
        if isinstance(patient_id, int):
            await self.access_bind(user, patient_id)
        await self.groups_join(thread_group(thread_id))
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.access_unbind()
        await self.groups_leave()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None  # clients act over REST

    async def cdss_event(self, message: dict[str, Any]) -> None:
        if self.access_revoked_in(message):
            await self.access_ended()
            return
        await self.event_forward(message)
