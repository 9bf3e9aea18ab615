"""The authenticated, audited DICOMweb proxy in front of the PACS (``/dicomweb/``).

The browser never talks to the PACS. Every request here is:

1. refused early, without touching the database or the PACS, when it carries what could reach a
   weakness of the PACS: a request body (Content-Length over DICOMWEB_PROXY_MAX_BODY: 413),
   a compressed body (Content-Encoding: 415), multipart or archive content (415), a method other
   than GET/HEAD (405), an archive Accept (406), or query parameters outside the DICOMweb set
   (400). Paths are matched by ``urls.py`` against the QIDO-RS/WADO-RS routes only, with UIDs of
   strict syntax; the PACS URL is rebuilt from those parts, never from the client's path;
2. authenticated (session or ``Authorization: Token``), then checked: the StudyInstanceUID must
   belong to an ImagingStudy of a patient the user may see (``patients.access``), else 404;
   every access, allowed or denied, is audited;
3. forwarded with only safe headers (Accept); the client's Authorization and Cookie never leave;
   the proxy adds the PACS credentials;
4. streamed back chunk by chunk (httpx async streaming into an async StreamingHttpResponse), with
   absolute PACS URLs in JSON answers (BulkDataURI, RetrieveURL) rewritten to this proxy.

Why async: Daphne serves ASGI, and Django 5.2 serves a *sync* StreamingHttpResponse iterator
under ASGI by consuming it whole into a list in a worker thread (django/http/response.py,
``__aiter__``): a 100 MB series would sit in memory. An async iterator is sent chunk by chunk.

QIDO-RS at the study level (``/dicomweb/studies``) never passes the client's query through
unscoped: the proxy adds the user's StudyInstanceUIDs as a UID-list match, filters the answer
again by that set, and applies limit/offset itself, so a wildcard PatientID query cannot list
another patient's study.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from imaging.dicomweb.client import dicomweb_auth, dicomweb_base_url
from imaging.dicomweb.uids import uid_is_valid
from imaging.selectors import imaging_study_get_for_user, imaging_study_uids_for_user

logger = logging.getLogger(__name__)

QIDO_ROUTES = frozenset({"qido-studies", "qido-study-series", "qido-study-instances", "qido-series-instances"})
JSON_ROUTES = QIDO_ROUTES | {"study-metadata", "series-metadata", "instance-metadata"}
_QIDO_KEYS = frozenset({"includefield", "limit", "offset", "fuzzymatching"})
_WADO_KEYS = frozenset({"charset", "quality", "viewport", "window", "annotation", "iccprofile"})
_ATTRIBUTE_KEY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{0,63}|[0-9A-Fa-f]{8}(?:\.[0-9A-Fa-f]{8}){0,7})$")
_MAX_PARAMS = 64
_MAX_VALUE = 1024
_MAX_ACCEPT = 512
_REFUSED_CONTENT_TYPES = ("multipart/", "application/zip", "application/x-zip", "application/gzip",
                          "application/x-gzip", "application/x-tar", "application/x-7z", "application/octet-stream",
                          "application/dicom")
_ARCHIVE_ACCEPT = ("application/zip", "application/x-zip", "application/gzip", "application/x-tar")
# Answer statuses of the PACS that are passed on as they are; everything else becomes 502.
_PASSED_STATUSES = frozenset({200, 204, 206, 400, 404, 406})
_RESPONSE_HEADERS = ("Content-Type", "Content-Length", "Warning")
_RELAY_CHUNK = 256 * 1024


def _error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "detail": None}, status=status, headers=headers or None)


# --- 1. refusals ---------------------------------------------------------------------------

def proxy_request_refusal(request: HttpRequest) -> HttpResponse | None:
    """A response refusing the request before any database or PACS work, or None."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding and encoding != "identity":
        return _error(415, "encoded_body_refused", "Compressed request bodies are not accepted.")
    length_header = request.headers.get("Content-Length", "").strip() or "0"
    try:
        length = int(length_header)
    except ValueError:
        return _error(400, "malformed_request", "Content-Length is not a number.")
    if length > settings.DICOMWEB_PROXY_MAX_BODY or length < 0 or "Transfer-Encoding" in request.headers:
        return _error(413, "body_too_large", "The request body is too large.")
    if request.method not in ("GET", "HEAD"):
        return _error(405, "method_not_allowed", "Only GET and HEAD are allowed here.", Allow="GET, HEAD")
    content_type = request.headers.get("Content-Type", "").strip().lower()
    if content_type.startswith(_REFUSED_CONTENT_TYPES):
        return _error(415, "body_refused", "Request bodies are not accepted here.")
    accept = request.headers.get("Accept", "")
    if len(accept) > _MAX_ACCEPT or not accept.isprintable():
        return _error(400, "malformed_request", "The Accept header is not acceptable.")
    if any(kind in accept.lower() for kind in _ARCHIVE_ACCEPT):
        return _error(406, "archive_refused", "Archives are not served; ask for DICOM or JSON.")
    return None


def _query_params(request: HttpRequest, route: str) -> list[tuple[str, str]] | HttpResponse:
    params: list[tuple[str, str]] = []
    qido = route in QIDO_ROUTES
    for key, values in request.GET.lists():
        allowed = (key in _QIDO_KEYS or bool(_ATTRIBUTE_KEY.match(key))) if qido else key in _WADO_KEYS
        if not allowed:
            return _error(400, "unsupported_parameter", f"Unsupported query parameter {key[:40]!r}.")
        for value in values:
            if len(value) > _MAX_VALUE or not value.isprintable():
                return _error(400, "malformed_request", "A query parameter value is not acceptable.")
            if key in ("limit", "offset") and not value.isdigit():
                return _error(400, "malformed_request", f"{key} must be a non-negative integer.")
            params.append((key, value))
    if len(params) > _MAX_PARAMS:
        return _error(400, "malformed_request", "Too many query parameters.")
    return params


# --- 2. authentication and access (one trip to a worker thread) -------------------------------

@dataclass(frozen=True)
class ProxyAccess:
    user: Any
    study_id: int | None = None
    patient_id: int | None = None
    allowed: dict[str, tuple[int, int]] | None = None  # for QIDO over all studies


class _Unauthenticated(Exception):
    pass


def _authenticate(request: HttpRequest) -> Any:
    header = get_authorization_header(request).split()
    if header:
        if header[0].lower() != b"token" or len(header) != 2:
            raise _Unauthenticated
        try:
            user, _token = TokenAuthentication().authenticate_credentials(header[1].decode())
        except (AuthenticationFailed, UnicodeDecodeError) as exc:
            raise _Unauthenticated from exc
        return user
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        raise _Unauthenticated
    return user


def _authorize(request: HttpRequest, route: str, study_uid: str | None) -> ProxyAccess:
    user = _authenticate(request)
    if study_uid is None:
        return ProxyAccess(user=user, allowed=imaging_study_uids_for_user(user))
    study = imaging_study_get_for_user(user, study_uid, request=request, route=route)
    audit_record(
        actor=user, action=AuditAction.READ, object_type="imaging_study", object_id=study.pk,
        patient_id=study.patient_id, request=request, detail={"route": route},
    )
    return ProxyAccess(user=user, study_id=study.pk, patient_id=study.patient_id)


def _audit_listed(request: HttpRequest, user: Any, rows: list[tuple[int, int]]) -> None:
    for study_id, patient_id in rows:
        audit_record(
            actor=user, action=AuditAction.READ, object_type="imaging_study", object_id=study_id,
            patient_id=patient_id, request=request, detail={"route": "qido-studies"},
        )


# --- 3. the PACS connection --------------------------------------------------------------------

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def _client() -> httpx.AsyncClient:
    """One pooled async client per event loop (Daphne runs one; each test run makes its own)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.DICOMWEB_TIMEOUT_S, connect=settings.DICOMWEB_PROXY_CONNECT_TIMEOUT_S),
            limits=httpx.Limits(
                max_connections=settings.DICOMWEB_PROXY_MAX_CONNECTIONS,
                max_keepalive_connections=settings.DICOMWEB_PROXY_MAX_CONNECTIONS,
                keepalive_expiry=0.9,  # Orthanc closes idle connections after 1 s
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment ever sees PACS traffic
        )
        _clients[loop] = client
    return client


async def dicomweb_proxy_client_close() -> None:
    """Close this event loop's PACS connections (tests call it before their loop ends)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _upstream_headers(request: HttpRequest, route: str) -> dict[str, str]:
    accept = request.headers.get("Accept", "").strip()
    if route in JSON_ROUTES and (not accept or accept == "*/*" or "json" not in accept):
        accept = "application/dicom+json"
    headers = {"Accept-Encoding": "identity"}
    if accept:
        headers["Accept"] = accept
    return headers


async def _upstream_send(request: HttpRequest, path: str, params: list[tuple[str, str]], route: str) -> httpx.Response:
    url = f"{dicomweb_base_url()}/{path}"
    if params:
        url += "?" + urlencode(params)
    auth = dicomweb_auth()
    client = _client()
    upstream_request = client.build_request("GET", url, headers=_upstream_headers(request, route))
    return await client.send(upstream_request, auth=httpx.BasicAuth(*auth) if auth else None, stream=True)


def _pacs_failure(status: int) -> JsonResponse:
    if status == 404:
        return _error(404, "not_found", "Not found.")
    logger.warning("PACS answered HTTP %s through the proxy", status)
    return _error(502, "pacs_error", "The PACS could not answer this request.")


# --- 4. rewriting PACS URLs --------------------------------------------------------------------

class UrlRewriter:
    """Replaces the PACS's absolute URL prefixes with the proxy's in a stream of chunks.

    Holds back only the last ``len(prefix) - 1`` bytes of each chunk, so a prefix split across
    two chunks is still found and memory stays constant.
    """

    def __init__(self, prefixes: list[bytes], replacement: bytes) -> None:
        self.prefixes = sorted({p for p in prefixes if p}, key=len, reverse=True)
        self.replacement = replacement
        self.hold = max((len(p) for p in self.prefixes), default=1) - 1
        self.carry = b""

    def replace(self, data: bytes) -> bytes:
        for prefix in self.prefixes:
            data = data.replace(prefix, self.replacement)
        return data

    def feed(self, chunk: bytes) -> bytes:
        data = self.replace(self.carry + chunk)
        if self.hold <= 0 or len(data) <= self.hold:
            self.carry = data if self.hold > 0 else b""
            return b"" if self.hold > 0 else data
        self.carry = data[-self.hold :]
        return data[: -self.hold]

    def flush(self) -> bytes:
        data, self.carry = self.carry, b""
        return data


def _rewriter(request: HttpRequest) -> UrlRewriter:
    proxy_root = reverse("dicomweb-qido-studies").removesuffix("/studies")
    targets = [dicomweb_base_url(), *settings.DICOMWEB_ADVERTISED_URLS]
    return UrlRewriter([t.rstrip("/").encode() for t in targets], request.build_absolute_uri(proxy_root).encode())


# --- 5. streaming back -------------------------------------------------------------------------

async def _relay(upstream: httpx.Response, rewriter: UrlRewriter | None) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw(_RELAY_CHUNK):
            if rewriter is not None:
                chunk = rewriter.feed(chunk)
            if chunk:
                yield chunk
        if rewriter is not None and (tail := rewriter.flush()):
            yield tail
    finally:
        await upstream.aclose()


class UpstreamStreamingResponse(StreamingHttpResponse):
    """Closes the PACS response even when the body is never iterated (client gone early)."""

    def __init__(self, upstream: httpx.Response, rewriter: UrlRewriter | None, **kwargs: Any) -> None:
        super().__init__(_relay(upstream, rewriter), **kwargs)
        self._upstream = upstream
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        super().close()
        if not self._upstream.is_closed:
            try:
                asyncio.run_coroutine_threadsafe(self._upstream.aclose(), self._loop)
            except RuntimeError:  # the loop is already gone
                pass


async def _forward(request: HttpRequest, route: str, path: str, params: list[tuple[str, str]]) -> HttpResponseBase:
    try:
        upstream = await _upstream_send(request, path, params, route)
    except httpx.HTTPError as exc:
        logger.warning("PACS unreachable through the proxy: %s", type(exc).__name__)
        return _error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
    if upstream.status_code not in _PASSED_STATUSES or upstream.status_code == 404:
        await upstream.aclose()
        return _pacs_failure(upstream.status_code)
    rewriter = _rewriter(request) if route in JSON_ROUTES and upstream.status_code == 200 else None
    headers = {name: upstream.headers[name] for name in _RESPONSE_HEADERS if name in upstream.headers}
    if rewriter is not None:
        headers.pop("Content-Length", None)  # the rewritten body has another length
    if request.method == "HEAD" or upstream.status_code == 204:
        await upstream.aclose()
        response = HttpResponse(status=upstream.status_code)
        for name, value in headers.items():
            response[name] = value
        return response
    content_type = headers.pop("Content-Type", "application/octet-stream")
    response = UpstreamStreamingResponse(upstream, rewriter, status=upstream.status_code, content_type=content_type)
    for name, value in headers.items():
        response[name] = value
    return response


# --- QIDO-RS over all studies: scoped to the user's studies ----------------------------------------

def _uid_list(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\\]", value) if part.strip()]


async def _qido_studies(request: HttpRequest, access: ProxyAccess, params: list[tuple[str, str]]) -> HttpResponseBase:
    allowed = access.allowed or {}
    wanted = set(allowed)
    passed: list[tuple[str, str]] = []
    limit = offset = None
    for key, value in params:
        if key == "limit":
            limit = int(value)
        elif key == "offset":
            offset = int(value)
        elif key in ("StudyInstanceUID", "0020000D"):
            wanted &= {uid for uid in _uid_list(value) if uid_is_valid(uid)}
        else:
            passed.append((key, value))
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    uids = sorted(wanted)
    chunk = 50
    for start in range(0, len(uids), chunk):
        batch = uids[start : start + chunk]
        try:
            upstream = await _upstream_send(request, "studies", [*passed, ("StudyInstanceUID", ",".join(batch))], "qido-studies")
        except httpx.HTTPError as exc:
            logger.warning("PACS unreachable through the proxy: %s", type(exc).__name__)
            return _error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
        try:
            if upstream.status_code == 204:
                continue
            if upstream.status_code != 200:
                return _pacs_failure(upstream.status_code) if upstream.status_code != 400 else _error(400, "pacs_bad_request", "The PACS rejected this query.")
            body = bytearray()
            async for part in upstream.aiter_raw():
                body += part
                if len(body) > settings.DICOMWEB_PROXY_QIDO_MAX_BYTES:
                    return _error(502, "pacs_answer_too_large", "The PACS answer is too large; narrow the query.")
        finally:
            await upstream.aclose()
        try:
            items = json.loads(body) if body.strip() else []
        except ValueError:
            return _error(502, "pacs_error", "The PACS answered something that is not JSON.")
        for item in items if isinstance(items, list) else []:
            values = (item.get("0020000D", {}).get("Value") or []) if isinstance(item, dict) else []
            uid = values[0] if values else None
            # Defence in depth: only studies of the user's set, whatever the PACS matched.
            if uid in wanted and uid not in seen:
                seen.add(uid)
                found.append(item)
    found = found[offset or 0 :]
    if limit:
        found = found[:limit]
    listed = [allowed[item["0020000D"]["Value"][0]] for item in found]
    if listed:
        await sync_to_async(_audit_listed)(request, access.user, listed)
    payload = _rewriter(request).replace(json.dumps(found, separators=(",", ":")).encode())
    return HttpResponse(payload, content_type="application/dicom+json", status=200)


# --- the view ---------------------------------------------------------------------------------

def _upstream_path(route: str, parts: dict[str, str]) -> str:
    study, series, instance = parts.get("study"), parts.get("series"), parts.get("instance")
    base = f"studies/{study}"
    if series:
        base += f"/series/{series}"
    if instance:
        base += f"/instances/{instance}"
    suffix = {
        "qido-study-series": "series",
        "qido-study-instances": "instances",
        "qido-series-instances": "instances",
        "study-metadata": "metadata",
        "series-metadata": "metadata",
        "instance-metadata": "metadata",
        "study-rendered": "rendered",
        "series-rendered": "rendered",
        "instance-rendered": "rendered",
        "study-thumbnail": "thumbnail",
        "series-thumbnail": "thumbnail",
        "instance-thumbnail": "thumbnail",
    }.get(route)
    if route in ("frames", "frames-rendered"):
        base += f"/frames/{parts['frames']}" + ("/rendered" if route == "frames-rendered" else "")
    elif route == "bulk":
        base += f"/bulk/{parts['tag_path']}"
    elif suffix:
        base += f"/{suffix}"
    return base


async def dicomweb_proxy(request: HttpRequest, route: str, **parts: str) -> HttpResponseBase:
    refusal = proxy_request_refusal(request)
    if refusal is not None:
        return refusal
    params = _query_params(request, route)
    if isinstance(params, HttpResponse):
        return params
    try:
        access = await sync_to_async(_authorize)(request, route, parts.get("study"))
    except _Unauthenticated:
        return _error(401, "not_authenticated", "Authentication credentials were not provided or are invalid.",
                      **{"WWW-Authenticate": "Token"})
    except NotFound:
        return _error(404, "not_found", "Not found.")
    if route == "qido-studies":
        return await _qido_studies(request, access, params)
    return await _forward(request, route, _upstream_path(route, parts), params)


async def dicomweb_not_found(request: HttpRequest, rest: str = "") -> HttpResponseBase:
    """Every other path under /dicomweb/: never forwarded, whatever the method."""
    return proxy_request_refusal(request) or _error(404, "not_found", "Not found.")
