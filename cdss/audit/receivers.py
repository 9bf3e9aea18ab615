"""Logins and failed logins go to the audit trail (the audit app listens to the auth signals)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from cdss.accounts.models import User
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record


@receiver(user_logged_in)
def _audit_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, object_type="user", object_id=user.pk, request=request)


@receiver(user_logged_out)
def _audit_logout(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, object_type="user", object_id=user.pk, request=request)


@receiver(user_login_failed)
def _audit_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # The username is an account identifier, not patient data; the password never is logged.
    user = User.objects.filter(username=credentials.get("username", "")).first()
    audit_record(
        actor=user,
        action=AuditAction.LOGIN_FAILED,
        object_type="user",
        object_id=user.pk if user else None,
        outcome=AuditOutcome.DENIED,
        request=request,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )
