"""OpenAPI security schemes of the project's own authentication classes (as DRF's)."""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme, TokenScheme


class ExpiringTokenScheme(TokenScheme):
    target_class = "cdss.accounts.authentication.ExpiringTokenAuthentication"


class LockAwareSessionScheme(SessionScheme):
    target_class = "cdss.accounts.authentication.SessionAuthentication"
