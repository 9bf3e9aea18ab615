"""The JWT an EHR signs each CDS Hooks call with (CDS Hooks 2.0, "Trusting CDS Clients").

The token's ``iss`` names a registered EHR; the signature is checked against that EHR's
registered JWKS, ``aud`` must be this service endpoint's URL, ``exp`` in the future and
``jti`` present. Anything else is a 401.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cdss.core.errors import CdssError
from interop.models import EhrRegistration
from interop.registry import registration_for_jwt_issuer

ALGORITHMS = ["ES384", "RS384", "ES256", "RS256"]


class HookUnauthorized(CdssError):
    code = "hook_unauthorized"
    status_code = 401


def _unverified_issuer(token: str) -> str:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise HookUnauthorized("The bearer token is not a JWT.") from exc
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str):
        raise HookUnauthorized("The JWT has no issuer.")
    return issuer


def hook_caller_verify(authorization: str | None, *, audience: str) -> EhrRegistration:
    if not authorization or not authorization.startswith("Bearer "):
        raise HookUnauthorized("A CDS Hooks call carries a signed JWT (Authorization: Bearer).")
    token = authorization[len("Bearer "):].strip()
    registration = registration_for_jwt_issuer(_unverified_issuer(token))
    if registration is None or not registration.cds_jwks:
        raise HookUnauthorized("The JWT's issuer is not a registered EHR.")
    try:
        keys = KeySet.import_key_set(registration.cds_jwks)
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        claims: dict[str, Any] = dict(decoded.claims)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": registration.cds_jwt_issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True}, jti={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError, KeyError) as exc:
        raise HookUnauthorized("The JWT did not verify.") from exc
    return registration
