"""API authentication: tokens that expire, and no access at all for a locked account."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from cdss.accounts.services import account_is_locked


class ExpiringTokenAuthentication(authentication.TokenAuthentication):
    """A token lives ``AUTH_TOKEN_TTL`` from its issue; it is deleted on lock and password change."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token.created < timezone.now() - settings.AUTH_TOKEN_TTL:
            token.delete()
            raise exceptions.AuthenticationFailed("Token expired.")
        if account_is_locked(user):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return user, token


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, except that a locked account's session is not honoured."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is not None and account_is_locked(result[0]):
            return None
        return result
