"""Bearer tokens with SMART scopes for the read-only FHIR API.

A token is issued to a local account (``manage.py fhir_token_issue``) for an EHR that calls
this API; it reads what that account may read (``patients.access``), narrowed by its scopes:
``user/<Type|*>.read`` (or v2 ``.rs``) reads across the account's patients, ``patient/...``
only the token's patient. A portal session or API token of the account works too, with the
account's rights and no scope narrowing (a SMART-launched session stays on its patient).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from cdss.accounts.services import account_is_locked
from interop.models import FhirApiToken

_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.(read|write|\*|[cruds]+)(\?.*)?$")


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What one scope string allows for reads: resource type (or "*") per context."""

    patient_types: frozenset[str]
    user_types: frozenset[str]

    def allows(self, resource_type: str, *, search: bool) -> tuple[bool, bool]:
        """(allowed at all, only in the token's patient context)."""
        if resource_type in self.user_types or "*" in self.user_types:
            return True, False
        if resource_type in self.patient_types or "*" in self.patient_types:
            return True, True
        return False, False


def scope_grant(scope: str, *, search: bool = True) -> Grant:
    patient: set[str] = set()
    user: set[str] = set()
    for item in scope.split():
        match = _SCOPE.match(item)
        if not match:
            continue
        context, kind, permission = match.group(1), match.group(2), match.group(3)
        reads = permission in ("read", "*") or ("r" in permission and "s" in permission) or (permission == "r" and not search)
        if not reads:
            continue
        (patient if context == "patient" else user).add(kind)
    return Grant(frozenset(patient), frozenset(user))


class SmartBearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, FhirApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header.")
        token = (
            FhirApiToken.objects.select_related("user")
            .filter(token_sha256=token_hash(header[1].decode("ascii", "replace")), revoked_at__isnull=True)
            .first()
        )
        if token is None or token.expires_at <= timezone.now() or not token.user.is_active or account_is_locked(token.user):
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="fhir"'
