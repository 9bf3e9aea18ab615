"""WebSocket consumers: authorise first, then join the group; forward notifications only.

A patient's socket gets the patient projection: no analysis progress, no event about a draft or
an unreleased report (``event_visible_to_patient``), a snapshot of released reports only, and
no analysis socket at all (the same 4404 as for a missing analysis).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from inference.analysis.progress import analysis_state
from inference.events import patient_group, request_group
from inference.events_scope import EventScope, event_scope_for_user
from inference.models import AnalysisRequest
from inference.selectors import analyses_for_user, reports_for_user, user_is_patient
from patients.access import patient_get_for_user
from patients.realtime import AccessBoundConsumer

CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _authorise_patient(user: Any, patient_id: int, consumer: Any) -> bool:
    try:
        patient_get_for_user(user, patient_id, request=consumer)
    except NotFound:
        return False
    audit_record(
        actor=user, action=AuditAction.SUBSCRIBE, object_type="patient_events", object_id=patient_id,
        patient_id=patient_id, outcome=AuditOutcome.SUCCESS, request=consumer,
    )
    return True


# Records whose changes a patient may hear of only once a report reaches them.
_CLINICAL_WORK_RECORDS = frozenset({"report", "analysis", "finding"})


def event_visible_to_patient(event: dict[str, Any]) -> bool:
    """Whether a patient's socket forwards this event: their own record's changes, and of
    reports only the release (whose ids are of released reports only)."""
    event_type = event.get("type")
    if event_type != "record.changed":
        return False  # analysis progress and report.ready concern drafts
    if event.get("record") in _CLINICAL_WORK_RECORDS:
        return event.get("record") == "report" and event.get("action") == "released"
    return True


class _NotificationConsumer(AccessBoundConsumer):
    """One-way sockets: after ``connect`` joined ``group_name``, forward its events as they come."""

    groups: list[str] = []
    patient_projection = False
    event_scope: EventScope | None = None  # a by-study share hears of its reports only

    async def disconnect(self, code: int) -> None:
        await self.access_unbind()
        await self.groups_leave()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The socket is one-way: clients act over REST.
        return None

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections, in a worker thread, before every
        # handler. Forwarding a notification touches no database, and with fifty sockets on a
        # patient that thread hop per socket per event would be the web process's largest cost.
        if message.get("type") == "cdss.event":
            await self.cdss_event(message)
            return
        await super().dispatch(message)

    async def cdss_event(self, message: dict[str, Any]) -> None:
        if self.access_revoked_in(message):
            await self.access_ended()
            return
        if self.patient_projection and not event_visible_to_patient(message.get("event") or {}):
            return
        if self.event_scope is not None:
            scoped = self.event_scope.event_for_socket(message.get("event") or {})
            if scoped is not None:
                await self.send_json(scoped)
            return
        await self.event_forward(message)


class PatientEventsConsumer(_NotificationConsumer):

    async def connect(self) -> None:
        user = await self.user_signed_in()
        if user is None:
            return
        patient_id = int(self.scope["url_route"]["kwargs"]["patient_id"])
        if not await _authorise_patient(user, patient_id, self):
            # Same answer for "missing" and "not yours".
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.patient_projection = user_is_patient(user)
        # A consultant's share may end while the socket is open: it closes then.
        await self.access_bind(user, patient_id)
        self.event_scope = await database_sync_to_async(event_scope_for_user)(user, patient_id)
        await self.groups_join(patient_group(patient_id))
        await self.accept()
        # Late joiners and reconnects first get the current state, then live events.
        if self.patient_projection:
            await self.send_json({"type": "state.snapshot", "patient_id": patient_id,
                                  "reports": await _released_reports(user, patient_id)})
            return
        analyses = await _active_analyses(patient_id)
        if self.event_scope is not None:
            analyses = [a for a in (self.event_scope.event_for_socket({"type": "analysis.status", **a}) for a in analyses) if a]
            analyses = [{k: v for k, v in a.items() if k != "type"} for a in analyses]
        await self.send_json({"type": "state.snapshot", "patient_id": patient_id, "analyses": analyses})


@database_sync_to_async
def _released_reports(user: Any, patient_id: int) -> list[int]:
    return list(reports_for_user(user).filter(patient_id=patient_id).order_by("-version").values_list("pk", flat=True))


@database_sync_to_async
def _active_analyses(patient_id: int) -> list[dict[str, Any]]:
    recent = AnalysisRequest.objects.filter(patient_id=patient_id).select_related("report").order_by("-created_at")[:5]
    return [analysis_state(a) for a in recent]


@database_sync_to_async
def _authorise_analysis(user: Any, analysis_id: int, consumer: Any) -> dict[str, Any] | None:
    analysis = analyses_for_user(user).filter(pk=analysis_id).select_related("report").first()
    if analysis is None:
        audit_record(actor=user, action=AuditAction.SUBSCRIBE, object_type="analysis_events", object_id=analysis_id,
                     outcome=AuditOutcome.DENIED, request=consumer)
        return None
    audit_record(actor=user, action=AuditAction.SUBSCRIBE, object_type="analysis_events", object_id=analysis_id,
                 patient_id=analysis.patient_id, request=consumer)
    return analysis_state(analysis)


class AnalysisEventsConsumer(_NotificationConsumer):
    """Events of one analysis request; the first message is its current state."""

    async def connect(self) -> None:
        user = await self.user_signed_in()
        if user is None:
            return
        analysis_id = int(self.scope["url_route"]["kwargs"]["analysis_id"])
        state = await _authorise_analysis(user, analysis_id, self)
        if state is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.groups_join(request_group(analysis_id))
        await self.accept()
        await self.send_json({"type": "state.snapshot", **state})

