"""Consultation sockets: the inbox (status changes of one's consultations) and the room
(presence, follow-the-presenter viewer sync, message notifications, WebRTC signalling).

Authorisation comes first, then the groups; a consultant's room socket is bound to their
share (``AccessBoundConsumer``): it closes when the share is revoked or expires. Everything
relayed is ids and numbers (``consultations.room``), never patient data.
"""

from __future__ import annotations

import json
import time
from typing import Any

from channels.db import database_sync_to_async

from cdss.accounts.models import Role
from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied
from cdss.core.events import consultation_group, patient_group, thread_group, user_group
from consultations.models import Consultation
from consultations.room import RoomMessageInvalid, rtc_signal_clean, viewer_state_clean
from consultations.selectors import room_consultation_for_user
from inference.events_scope import EventScope, event_scope_for_user
from patients.realtime import CLOSE_ACCESS_ENDED, AccessBoundConsumer, GroupSocketConsumer

CLOSE_ROOM_ENDED = 4410
# Client message types a room passes on; anything else is ignored.
ROOM_TYPES = frozenset({"viewer.state", "presenter.take", "rtc.signal", "presence.ping"})
# What the room hears from the patient's group: the analysis progress and the changes of
# analyses, findings and reports that its AI findings panel shows.
PATIENT_EVENT_TYPES = frozenset({"analysis.status", "analysis.progress", "report.ready"})
PATIENT_RECORDS = frozenset({"analysis", "finding", "report"})


class ConsultationInboxConsumer(GroupSocketConsumer):
    """``consultation.changed`` events (ids and status) of the user's own consultations."""

    async def connect(self) -> None:
        user = await self.user_signed_in()
        if user is None:
            return
        await self.groups_join(user_group(user.pk))
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.groups_leave()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    async def cdss_event(self, message: dict[str, Any]) -> None:
        await self.event_forward(message)


def _user_name(user: Any) -> str:
    return " ".join(p for p in (user.first_name, user.last_name) if p) or user.username


@database_sync_to_async
def _room_authorise(user: Any, consultation_id: int, consumer: Any) -> Consultation | None:
    try:
        consultation = room_consultation_for_user(user, consultation_id, request=consumer)
    except (NotFound, PermissionDenied):
        return None
    audit_record(actor=user, action=AuditAction.SUBSCRIBE, object_type="consultation_room",
                 object_id=consultation.pk, patient_id=consultation.patient_id, request=consumer)
    return consultation


class ConsultRoomConsumer(AccessBoundConsumer):
    """One socket per participant in a consultation's room.

    Presence: a joiner announces itself to the room; each member already there answers the
    joiner's channel directly, so everyone knows everyone without shared state. Viewer sync:
    the presenter's states go to the room with the server's receive time (``t``, ms) for
    latency measurement; followers apply them. Signalling: offers, answers and candidates go
    to the one participant named in ``to``.
    """

    consultation_id = 0
    patient_id = 0
    event_scope: EventScope | None = None

    async def connect(self) -> None:
        self.joined_groups = []
        user = await self.user_signed_in()
        if user is None:
            return
        consultation_id = int(self.scope["url_route"]["kwargs"]["consultation_id"])
        consultation = await _room_authorise(user, consultation_id, self)
        if consultation is None:
            await self.close(code=CLOSE_ACCESS_ENDED)
            return
        self.consultation_id = consultation.pk
        self.me = {"id": user.pk, "name": _user_name(user), "role": user.role}
        if user.role == Role.CONSULTANT:
            await self.access_bind(user, consultation.patient_id)
        self.access_until(consultation.expires_at)
        self.patient_id = consultation.patient_id
        # A by-study share hears of the analyses of its shared reports only.
        self.event_scope = await database_sync_to_async(event_scope_for_user)(user, consultation.patient_id)
        await self.groups_join(consultation_group(consultation.pk), thread_group(consultation.thread_id or 0),
                               patient_group(consultation.patient_id))
        await self.accept()
        await self._room_send({"type": "room.relay", "event": {"type": "presence.join", "user": self.me},
                               "reply_to": self.channel_name})

    async def disconnect(self, code: int) -> None:
        await self.access_unbind()
        if getattr(self, "me", None) and getattr(self, "joined_groups", None):
            await self._room_send({"type": "room.relay", "event": {"type": "presence.leave", "user": self.me}})
        await self.groups_leave()

    async def _room_send(self, message: dict[str, Any]) -> None:
        await self.channel_layer.group_send(consultation_group(self.consultation_id), message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") not in ROOM_TYPES:
            return
        kind = content["type"]
        try:
            if kind == "viewer.state":
                seq = content.get("seq")
                event = {"type": "viewer.state", "from": self.me["id"], "state": viewer_state_clean(content.get("state")),
                         "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else 0,
                         "t": time.time() * 1000}
                await self._room_send({"type": "room.relay", "event": event})
            elif kind == "presenter.take":
                await self._room_send({"type": "room.relay", "event": {"type": "presenter", "user_id": self.me["id"]}})
            elif kind == "rtc.signal":
                to = content.get("to")
                if isinstance(to, int) and not isinstance(to, bool):
                    event = {"type": "rtc.signal", "from": self.me["id"], "data": rtc_signal_clean(content.get("data"))}
                    await self._room_send({"type": "room.relay", "event": event, "to": to})
            elif kind == "presence.ping":
                await self.send_json({"type": "presence.pong", "t": content.get("t") if isinstance(content.get("t"), int | float) else None})
        except RoomMessageInvalid as exc:
            await self.send_json({"type": "room.error", "code": "invalid_room_message", "message": str(exc)})

    async def room_relay(self, message: dict[str, Any]) -> None:
        event = message["event"]
        to = message.get("to")
        if to is not None and to != self.me["id"]:
            return
        sender = event.get("from") or (event.get("user") or {}).get("id")
        if event["type"] in ("viewer.state", "rtc.signal", "presenter") or sender != self.me["id"]:
            # A presenter's own states echo back too: the bench and the page use that round trip.
            if event["type"] == "rtc.signal" and sender == self.me["id"]:
                return
            await self.send_json(event)
        reply_to = message.get("reply_to")
        if event["type"] == "presence.join" and reply_to and reply_to != self.channel_name:
            await self.channel_layer.send(reply_to, {"type": "room.relay", "event": {"type": "presence.here", "user": self.me}})

    async def cdss_event(self, message: dict[str, Any]) -> None:
        if self.access_revoked_in(message):
            await self.access_ended()
            return
        event = message.get("event") or {}
        if event.get("patient_id") == self.patient_id and (
            event.get("type") in PATIENT_EVENT_TYPES or event.get("type") == "record.changed"
        ):
            if event.get("type") == "record.changed" and event.get("record") not in PATIENT_RECORDS:
                return
            if self.event_scope is not None:
                scoped = self.event_scope.event_for_socket(event)
                if scoped is not None:
                    await self.send_json(scoped)
                return
        await self.send(text_data=message.get("text") or json.dumps(event))
        if event.get("type") == "consultation.changed" and event.get("status") in ("closed", "declined"):
            await self.close(code=CLOSE_ROOM_ENDED)
