from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from cdss.accounts.permissions import IsAdminRole
from cdss.audit.models import AuditAction, AuditEvent, AuditOutcome
from cdss.audit.reads import read_audit_note
from cdss.core.dates import query_datetime
from cdss.core.errors import ValidationFailed
from cdss.core.ids import id_parse
from cdss.core.pagination import StrictPageNumberPagination


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor_id", "actor_username", "action", "object_type", "object_id",
            "patient_id", "client_ip", "request_id", "client_request_id", "outcome", "detail",
        ]


class AuditPagination(StrictPageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_ID_FILTERS = {"actor_id": "actor_id", "patient_id": "patient_id"}
_CHOICE_FILTERS = {"action": AuditAction.values, "outcome": AuditOutcome.values}
_TEXT_FILTERS = {
    "actor": "actor_username",
    "object_type": "object_type",
    "object_id": "object_id",
    "request_id": "request_id",
}


def _bad(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", code="invalid_filter", detail={name: [message]})


def audit_events_filter(params: Any) -> QuerySet[AuditEvent]:
    """The trail narrowed by every filter given (AND); a malformed filter is 400, never a 500."""
    events = AuditEvent.objects.all()
    for name, field in _ID_FILTERS.items():
        raw = params.get(name)
        if raw:
            value = id_parse(raw)
            if value is None:
                raise _bad(name, "must be a whole number from 1 to 2^63-1.")
            events = events.filter(**{field: value})
    for name, allowed in _CHOICE_FILTERS.items():
        raw = params.get(name)
        if raw:
            if raw not in allowed:
                raise _bad(name, f"must be one of {', '.join(allowed)}.")
            events = events.filter(**{name: raw})
    for name, field in _TEXT_FILTERS.items():
        raw = params.get(name)
        if raw:
            if len(raw) > 150 or not raw.isprintable():
                raise _bad(name, "must be printable text of at most 150 characters.")
            events = events.filter(**{field: raw})
    since, until = query_datetime(params, "since"), query_datetime(params, "until")
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events


_PARAMETERS = [
    *(OpenApiParameter(name, int, description="Exact id") for name in _ID_FILTERS),
    *(OpenApiParameter(name, str, enum=allowed) for name, allowed in _CHOICE_FILTERS.items()),
    OpenApiParameter("actor", str, description="Username, exact"),
    *(OpenApiParameter(name, str) for name in ("object_type", "object_id", "request_id")),
    OpenApiParameter("since", str, description="At or after (ISO 8601)"),
    OpenApiParameter("until", str, description="Before (ISO 8601)"),
]


class AuditEventListApi(ListAPIView[AuditEvent]):
    """Admins browse the trail, newest first; filters combine with AND."""

    permission_classes = [IsAdminRole]
    serializer_class = AuditEventSerializer
    pagination_class = AuditPagination

    @extend_schema(operation_id="audit_list", parameters=_PARAMETERS)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)
        # Reading the trail is itself audited: which filters, and how many entries matched.
        read_audit_note(filters={p.name: request.query_params[p.name] for p in _PARAMETERS if p.name in request.query_params},
                        count=response.data.get("count") if isinstance(response.data, dict) else None)
        return response

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return audit_events_filter(self.request.query_params)
