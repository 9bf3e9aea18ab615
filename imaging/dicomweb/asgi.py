"""An ASGI fast lane for the DICOMweb proxy's repeated binary reads, in front of Django.

A viewer opening a series asks for hundreds of frames of one study within seconds. The first
request of a study goes through Django (``proxy.dicomweb_proxy``): authentication, the access
check, audit. That positive decision is remembered for DICOMWEB_PROXY_ACCESS_CACHE_S seconds
(``proxy.ACCESS_CACHE``, keyed by the credential's hash and the StudyInstanceUID). While it is,
this lane serves further GETs of the same study's WADO-RS routes (frames, rendered, thumbnails,
instance and series retrieval, bulk data, metadata; not QIDO-RS) straight from ASGI, without Django's request cycle
(request object, middleware, a worker thread per request, signals), which costs more than the
relay itself on a small machine. Every such read is still audited (the same writer, one entry
per request) and gets the same security headers the middleware adds to /dicomweb/ answers.

Anything else, and anything unusual, goes to Django unchanged: another method, a request body
or body headers, a query parameter outside the WADO-RS set, an Accept that is too long or asks
for an archive, a host not in ALLOWED_HOSTS, no remembered decision, or a PACS answer other than
200 (Django then makes the request itself and answers as usual).

Whole pixel answers (frames, bulk data, rendered images) are kept in ``frame_cache.FRAME_CACHE``
and served from there to a caller whose access to the study is remembered, audited like any
other read.

Wiring: ``cdss/asgi.py`` routes HTTP through ``DicomwebFastLane(django_asgi_app)``, the one
ASGI entry point.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host

from imaging.dicomweb.frame_cache import CACHED_ROUTES, FRAME_CACHE, CachedAnswer, CacheKey
from imaging.uids import BULK_PATH_PATTERN, FRAME_LIST_PATTERN, UID_MAX_LENGTH, UID_PATTERN

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_U = f"(?P<study>{UID_PATTERN})"
_S = f"(?P<series>{UID_PATTERN})"
_I = f"(?P<instance>{UID_PATTERN})"
_FAST_ROUTES = [
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/frames/(?P<frames>{FRAME_LIST_PATTERN})$"), "frames"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/frames/(?P<frames>{FRAME_LIST_PATTERN})/rendered$"), "frames-rendered"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/bulk/(?P<tag_path>{BULK_PATH_PATTERN})$"), "bulk"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/rendered$"), "instance-rendered"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/thumbnail$"), "instance-thumbnail"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}$"), "instance"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/instances/{_I}/metadata$"), "instance-metadata"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/rendered$"), "series-rendered"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/thumbnail$"), "series-thumbnail"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}/metadata$"), "series-metadata"),
    (re.compile(rf"^/dicomweb/studies/{_U}/series/{_S}$"), "series"),
    (re.compile(rf"^/dicomweb/studies/{_U}/metadata$"), "study-metadata"),
    (re.compile(rf"^/dicomweb/studies/{_U}/thumbnail$"), "study-thumbnail"),
]
_BODY_HEADERS = frozenset({b"content-length", b"content-encoding", b"transfer-encoding", b"content-type"})
_WADO_KEYS = frozenset({"charset", "quality", "viewport", "window", "annotation", "iccprofile"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass
class _AuditRequest:
    """What ``audit_record`` reads from a request: the client address and the request id."""

    META: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    client_request_id: str = ""


class DicomwebFastLane:
    def __init__(self, app: ASGIApp) -> None:
        # Built after Django is set up (the proxy module imports models).
        from imaging.dicomweb import proxy

        self.app = app
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith("/dicomweb/studies/"):
            await self.app(scope, receive, send)
            return
        handled = await self._serve(scope, send)
        if not handled:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send) -> bool:
        proxy = self.proxy
        path: str = scope["path"]
        for pattern, name in _FAST_ROUTES:
            match = pattern.match(path)
            if match:
                route = name
                break
        else:
            return False
        parts = {k: v for k, v in match.groupdict().items() if v is not None}
        if any(len(parts[k]) > UID_MAX_LENGTH for k in ("study", "series", "instance") if k in parts):
            return False
        if "frames" in parts and parts["frames"].count(",") >= 512:
            return False
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            key = name.lower()
            if key in _BODY_HEADERS:
                return False
            headers[key] = value
        ttl = float(settings.DICOMWEB_PROXY_ACCESS_CACHE_S)
        if ttl <= 0:
            return False
        accept = headers.get(b"accept", b"").decode("latin-1")
        if len(accept) > 512 or not accept.isprintable() or "zip" in accept.lower() or "tar" in accept.lower():
            return False
        host = headers.get(b"host", b"").decode("latin-1")
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            return False
        params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if any(key not in _WADO_KEYS or len(value) > 1024 or not value.isprintable() for key, value in params) or len(params) > 64:
            return False
        credential = self._credential(headers)
        access = proxy.ACCESS_CACHE.get((credential, parts["study"])) if credential else None
        if access is None:
            return False
        cache_key: CacheKey | None = None
        if route in CACHED_ROUTES and FRAME_CACHE.enabled:
            cache_key = (path, accept, scope.get("query_string", b""), scope.get("scheme", "http"), host)
            cached = FRAME_CACHE.get(cache_key)
            if cached is not None:
                request_id = self._audit(scope, headers, access, route, parts.get("series"))
                await self._send_whole(send, cached.content_type, cached.body, request_id)
                return True
        try:
            upstream = await proxy.proxy_upstream(accept=accept, route=route, parts=parts, params=params)
        except (proxy.UpstreamError, proxy.ThumbnailNotFound):
            return False  # Django answers 503 or 404 the usual way
        if upstream.status != 200:
            await upstream.aclose()
            return False
        content_type = upstream.headers.get("content-type", "application/octet-stream")
        scheme = scope.get("scheme", "http")
        rewrites = route in proxy.JSON_ROUTES or content_type.lower().startswith("multipart/")
        rewriter = proxy.UrlRewriter(proxy.pacs_prefixes(), f"{scheme}://{host}{proxy.PROXY_ROOT}".encode()) if rewrites else None
        length = upstream.content_length
        if length is not None and length <= proxy.WHOLE_BODY_MAX:
            # One read and one message (see proxy.WHOLE_BODY_MAX); a broken answer goes to Django,
            # which asks again and answers 502 if it breaks again.
            try:
                body = await upstream.read_body()
            except proxy.UpstreamError:
                return False
            if rewriter is not None:
                body = rewriter.whole(body, content_type)
            if cache_key is not None:
                FRAME_CACHE.put(cache_key, CachedAnswer(content_type, body), entry_max_bytes=proxy.WHOLE_BODY_MAX)
            request_id = self._audit(scope, headers, access, route, parts.get("series"))
            await self._send_whole(send, content_type, body, request_id)
            return True
        request_id = self._audit(scope, headers, access, route, parts.get("series"))
        response_headers = _response_headers(content_type, request_id)
        if rewriter is None and "content-length" in upstream.headers:
            response_headers.append((b"content-length", upstream.headers["content-length"].encode("latin-1")))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": response_headers})
            async for chunk in proxy.relay(upstream, rewriter):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await upstream.aclose()
        return True

    def _audit(self, scope: Scope, headers: dict[bytes, bytes], access: Any, route: str, series: str | None) -> str:
        """Queue the read's audit entry; the request id it is filed under (made here; a sane
        client X-Request-ID is kept beside it, as Django's RequestIdMiddleware does)."""
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = uuid.uuid4().hex
        client = scope.get("client") or ("", 0)
        request = _AuditRequest(
            META={"REMOTE_ADDR": client[0]}, request_id=request_id,
            client_request_id=incoming if _REQUEST_ID.match(incoming) else "",
        )
        self.proxy.audit_writer().add(request, access, route, series=series)
        return request_id

    @staticmethod
    async def _send_whole(send: Send, content_type: str, body: bytes, request_id: str) -> None:
        response_headers = _response_headers(content_type, request_id)
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _credential(self, headers: dict[bytes, bytes]) -> str | None:
        authorization = headers.get(b"authorization")
        if authorization:
            return self.proxy.credential_key(authorization=authorization.decode("latin-1"), session=None)
        cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
        return self.proxy.credential_key(authorization=None, session=cookies.get(settings.SESSION_COOKIE_NAME))


def _response_headers(content_type: str, request_id: str) -> list[tuple[bytes, bytes]]:
    """The headers the middleware puts on /dicomweb/ answers: no caching by the browser or any
    proxy (patient data), no sniffing or framing."""
    return [
        (b"content-type", content_type.encode("latin-1")),
        (b"cache-control", b"no-store, private"),
        (b"pragma", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        (b"vary", b"Cookie, Authorization"),
        (b"x-request-id", request_id.encode()),
    ]
