"""Writing audit entries. Every read or change of patient data calls ``audit_record``."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from cdss.audit.models import AuditEvent, AuditOutcome
from cdss.core.request_context import request_id_var

logger = logging.getLogger(__name__)


def _client_ip(request: Any) -> str | None:
    if request is None:
        return None
    meta = getattr(request, "META", None)
    if meta is not None:
        return meta.get("REMOTE_ADDR") or None
    scope = getattr(request, "scope", None)  # a Channels consumer passes itself
    if scope and scope.get("client"):
        return str(scope["client"][0])
    return None


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any = None,
    patient_id: int | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    request: HttpRequest | Any | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    request_id = getattr(request, "request_id", None) if request is not None else None
    return AuditEvent.objects.create(
        actor_id=actor.pk if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        patient_id=patient_id,
        client_ip=_client_ip(request),
        request_id=request_id or request_id_var.get(),
        outcome=outcome,
        detail=detail or {},
    )
