"""The SMART App Launch 2.x client side: discovery, authorization code with PKCE, token.

Authlib's OAuth2 client does the protocol work (PKCE S256, state, the token request); this
module adds the SMART parts: ``.well-known/smart-configuration``, the ``launch`` and ``aud``
parameters, and checking the ``id_token`` that carries ``fhirUser``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from cdss.core.errors import CdssError
from interop.models import EhrRegistration


class LaunchFailed(CdssError):
    code = "smart_launch_failed"
    status_code = 400


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None
    jwks_uri: str | None


def _get_json(url: str, **kwargs: Any) -> Any:
    try:
        response = requests.get(url, timeout=settings.INTEROP_EHR_TIMEOUT_S, allow_redirects=False, **kwargs)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LaunchFailed("The EHR did not answer.", detail={"url": url}) from exc


def smart_configuration(iss: str) -> SmartConfiguration:
    document = _get_json(iss.rstrip("/") + "/.well-known/smart-configuration", headers={"Accept": "application/json"})
    if not isinstance(document, dict):
        raise LaunchFailed("The EHR's SMART configuration is not a JSON object.")
    methods = document.get("code_challenge_methods_supported") or []
    if "S256" not in methods:
        raise LaunchFailed("The EHR's authorization server does not support PKCE S256.")
    try:
        return SmartConfiguration(
            str(document["authorization_endpoint"]), str(document["token_endpoint"]),
            document.get("issuer"), document.get("jwks_uri"),
        )
    except KeyError as exc:
        raise LaunchFailed("The EHR's SMART configuration lacks an endpoint.") from exc


def _session(registration: EhrRegistration, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=registration.client_id, client_secret=registration.client_secret or None,
        scope=registration.scope, redirect_uri=redirect_uri, code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if registration.client_secret else "none",
    )


def authorization_url(
    *, registration: EhrRegistration, config: SmartConfiguration, redirect_uri: str, launch: str | None,
) -> tuple[str, str, str]:
    """(url, state, code_verifier) for the authorization request."""
    verifier = secrets.token_urlsafe(64)
    extra = {"aud": registration.iss}
    if launch:
        extra["launch"] = launch
    session = _session(registration, redirect_uri)
    if not launch and "launch/patient" not in registration.scope.split():
        session.scope = f"{registration.scope} launch/patient"  # standalone: the EHR asks for the patient
    url, state = session.create_authorization_url(config.authorization_endpoint, code_verifier=verifier, **extra)
    return url, state, verifier


def token_exchange(
    *, registration: EhrRegistration, config: SmartConfiguration, redirect_uri: str, code: str, verifier: str,
) -> dict[str, Any]:
    session = _session(registration, redirect_uri)
    try:
        token = session.fetch_token(config.token_endpoint, grant_type="authorization_code", code=code,
                                    code_verifier=verifier, timeout=settings.INTEROP_EHR_TIMEOUT_S)
    except Exception as exc:  # Authlib raises its OAuthError, requests its own: both mean "no token"
        raise LaunchFailed("The EHR's authorization server refused the token request.") from exc
    return dict(token)


def id_token_claims(*, registration: EhrRegistration, config: SmartConfiguration, id_token: str) -> dict[str, Any]:
    """The verified claims of the OpenID Connect id_token: signed by the EHR's keys (jwks_uri),
    or with the client secret (HS256) for a confidential symmetric client; ``aud`` is us."""
    try:
        if config.jwks_uri:
            keys: Any = KeySet.import_key_set(_get_json(config.jwks_uri))
            algorithms = ["RS256", "ES256", "RS384", "ES384"]
        elif registration.client_secret:
            keys = OctKey.import_key(registration.client_secret)
            algorithms = ["HS256"]
        else:
            raise LaunchFailed("The EHR publishes no keys to check the id_token with.")
        decoded = jwt.decode(id_token, keys, algorithms=algorithms)
        claims = dict(decoded.claims)
        expected: dict[str, Any] = {"aud": {"essential": True, "value": registration.client_id}, "exp": {"essential": True}}
        if config.issuer:
            expected["iss"] = {"essential": True, "value": config.issuer}
        jwt.JWTClaimsRegistry(**expected).validate(claims)
    except (JoseError, ValueError) as exc:
        raise LaunchFailed("The id_token did not verify.") from exc
    return claims


def ehr_patient(*, iss: str, patient_id: str, access_token: str) -> dict[str, Any]:
    document = _get_json(
        f"{iss.rstrip('/')}/Patient/{patient_id}",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"},
    )
    if not isinstance(document, dict) or document.get("resourceType") != "Patient":
        raise LaunchFailed("The EHR sent no Patient for the launch context.")
    return document
