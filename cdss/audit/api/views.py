from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from cdss.audit.models import AuditEvent
from cdss.core.errors import ValidationFailed
from cdss.core.permissions import IsAdminRole


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor_id", "actor_username", "action", "object_type", "object_id",
            "patient_id", "client_ip", "request_id", "outcome", "detail",
        ]


_FILTERS = {
    "actor_id": "actor_id",
    "action": "action",
    "outcome": "outcome",
    "object_type": "object_type",
    "object_id": "object_id",
    "patient_id": "patient_id",
    "request_id": "request_id",
    "since": "occurred_at__gte",
    "until": "occurred_at__lt",
}


class AuditEventListApi(ListAPIView[AuditEvent]):
    """Admins browse the trail; filters combine with AND."""

    permission_classes = [IsAdminRole]
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[OpenApiParameter(name, str) for name in _FILTERS])
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        events = AuditEvent.objects.all()
        criteria = {
            lookup: self.request.query_params[name]
            for name, lookup in _FILTERS.items()
            if self.request.query_params.get(name)
        }
        try:
            return events.filter(**criteria)
        except (ValueError, TypeError, DjangoValidationError) as exc:
            raise ValidationFailed("Bad audit filter.", code="invalid_filter") from exc
