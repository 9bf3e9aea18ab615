"""WebSockets of a session opened by a SMART launch reach the launched patient only.

The socket counterpart of ``interop.smart.middleware``: it sits between the session/auth
middleware and the URL router (``cdss.asgi``), reads the socket path's own ids (patient,
analysis, thread, consultation), and refuses any that belong to another patient with the
same close code as a patient that is not found (4404), so the refusal says nothing about
the record. It only narrows: each consumer still checks the user's own rights. Refusals
are audited. Sockets that carry no patient (the consultation inbox: ids and status of the
user's own consultations) are left to their consumer, as the HTTP listing of them is.
"""

from __future__ import annotations

import re
from typing import Any

from channels.db import database_sync_to_async

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from interop.smart.context import launched_patient_id, owner_patient_id

CLOSE_OUTSIDE_CONTEXT = 4404  # the consumers' "not found", on purpose
# Socket path -> the URL keyword whose row names the patient (``cdss.routing``).
_SOCKET = re.compile(r"^/ws/(patients|analyses|threads|consultations)/(\d+)/")
_SOCKET_KIND = {"patients": "patient_id", "analyses": "analysis_id", "threads": "thread_id", "consultations": "consultation_id"}


class _ScopeRequest:
    """What ``launched_patient_id`` and ``audit_record`` read of a request, from a socket's scope."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.session = scope.get("session")


@database_sync_to_async
def _refused(scope: dict[str, Any]) -> bool:
    request = _ScopeRequest(scope)
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False  # the consumer answers 4401
    patient_id = launched_patient_id(request)
    if patient_id is None:
        return False
    match = _SOCKET.match(scope.get("path", ""))
    if match is None:
        return False
    owner = owner_patient_id(_SOCKET_KIND[match.group(1)], match.group(2))
    if owner is None or owner is False or owner == patient_id:
        return False  # a missing row is the consumer's own 4404
    audit_record(
        actor=user, action=AuditAction.SUBSCRIBE, object_type="ehr_context", object_id=scope["path"][:128],
        patient_id=patient_id, outcome=AuditOutcome.DENIED, request=request, detail={"reason": "outside launched patient"},
    )
    return True


class EhrContextSocketGuard:
    """ASGI middleware for the websocket router; needs ``scope["session"]`` and ``scope["user"]``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket" or not await _refused(scope):
            return await self.app(scope, receive, send)
        message = await receive()
        if message.get("type") == "websocket.connect":
            await send({"type": "websocket.close", "code": CLOSE_OUTSIDE_CONTEXT})
        return None
