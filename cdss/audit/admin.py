from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cdss.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Browse and filter only: nobody, not even a superuser, edits the trail here."""

    list_display = ("occurred_at", "actor_username", "action", "object_type", "object_id", "patient_id", "outcome", "client_ip")
    list_filter = ("action", "outcome", "object_type", "occurred_at")
    search_fields = ("actor_username", "object_id", "request_id")
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
