"""WebSocket Origin check: the page that opens a socket must be this site, scheme, host and port.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host name with
ALLOWED_HOSTS, so ``http://localhost:6666`` (another program on the clinician's machine) or an
``http://`` page of an ``https://`` site could ride on the session cookie. Here the Origin must
equal the site the socket was opened on (scheme from the socket's own scheme or the trusted
proxy header, host and port from the Host header, itself in ALLOWED_HOSTS), or one of
CSRF_TRUSTED_ORIGINS exactly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                return str(value.decode("latin1"))
            except UnicodeDecodeError:
                return None
    return None


def _origin_tuple(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    host, port = split_domain_port(netloc.lower())
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    if port and not port.isdigit():
        return None
    return scheme, host, int(port) if port else _DEFAULT_PORTS[scheme]


def site_scheme(scope: dict[str, Any]) -> str:
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        if _header(scope, header) == secure_value:
            return "https"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def origin_allowed(origin: str, *, scheme: str, host: str) -> bool:
    """Whether ``origin`` is the site at ``scheme``://``host`` (host in ALLOWED_HOSTS) or one of
    CSRF_TRUSTED_ORIGINS, compared on scheme, host and port."""
    parts = urlsplit(origin or "")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return False
    theirs = _origin_tuple(parts.scheme, parts.netloc)
    if theirs is None:
        return False
    trusted = {_origin_tuple(urlsplit(o).scheme, urlsplit(o).netloc) for o in settings.CSRF_TRUSTED_ORIGINS}
    if theirs in trusted:
        return True
    host_name, _port = split_domain_port(host.lower())
    if not host_name or not validate_host(host_name, settings.ALLOWED_HOSTS):
        return False
    return theirs == _origin_tuple(scheme, host)


def websocket_origin_allowed(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    return origin_allowed(origin, scheme=site_scheme(scope), host=host)


class SameOriginValidator:
    """ASGI middleware for the websocket protocol: refuses (close 403) any other Origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
