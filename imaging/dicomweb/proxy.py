"""The authenticated, audited DICOMweb proxy in front of the PACS (``/dicomweb/``).

The browser never talks to the PACS. Every request here is:

1. refused early, without touching the database or the PACS, when it carries what could reach a
   weakness of the PACS: a request body (Content-Length over DICOMWEB_PROXY_MAX_BODY: 413),
   a compressed body (Content-Encoding: 415), multipart or archive content (415), a method other
   than GET/HEAD (405), an archive Accept (406), or query parameters outside the DICOMweb set
   (400). Paths are matched by ``urls.py`` against the QIDO-RS/WADO-RS routes only, with UIDs of
   strict syntax; the PACS URL is rebuilt from those parts, never from the client's path;
2. authenticated (session or ``Authorization: Token``), then checked: the StudyInstanceUID must
   belong to an ImagingStudy of a patient the user may see (``patients.access``), else 404.
   A positive decision is remembered for DICOMWEB_PROXY_ACCESS_CACHE_S seconds per credential
   and study (``ACCESS_CACHE``), so a viewer's hundreds of frame requests cost one check;
3. audited, every access: a denial at once, on the request path; each allowed read gets its own
   entry, written in batches (one INSERT, one transaction) by ``_AuditWriter`` a few
   milliseconds later rather than one commit per frame;
4. forwarded with only safe headers (Accept); the client's Authorization and Cookie never leave;
   the proxy adds the PACS credentials;
5. streamed back chunk by chunk (an async HTTP/1.1 client on asyncio streams, ``upstream.py``,
   into an async StreamingHttpResponse), or, for an answer of at most WHOLE_BODY_MAX bytes with
   a Content-Length (a frame, metadata, a rendered image), read whole and sent as one message;
   absolute PACS URLs (BulkDataURI and RetrieveURL in JSON, Content-Location in multipart part
   headers) are rewritten to this proxy. Thumbnails the PACS lacks are made from ``/rendered``
   (``thumbnails.py``).

Why async: Daphne serves ASGI, and Django 5.2 serves a *sync* StreamingHttpResponse iterator
under ASGI by consuming it whole into a list in a worker thread (django/http/response.py,
``__aiter__``): a 100 MB series would sit in memory. An async iterator is sent chunk by chunk
(measured: 1.3-1.7 MiB peak traced memory for a 100 MiB series, tests/imaging/
test_proxy_streaming.py). Why not httpx: see ``upstream.py`` (3x the relay throughput).
Repeat binary reads can skip Django's request cycle altogether: see ``asgi.py``.

A de-identified share (an access with a pseudonym) is relayed by ``proxy_deid.py``.

QIDO-RS at the study level (``/dicomweb/studies``) never passes the client's query through
unscoped: the proxy adds the user's StudyInstanceUIDs as a UID-list match, filters the answer
again by that set, and applies limit/offset itself, so a wildcard PatientID query cannot list
another patient's study.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import re
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from pydicom.datadict import tag_for_keyword
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_event_build, audit_reads_record
from cdss.core.errors import NotFound
from imaging.deid import (
    json_deidentify,
    study_resolve_for_user,
    uid_pseudonym,
)
from imaging.dicomweb.client import dicomweb_auth, dicomweb_base_url
from imaging.dicomweb.thumbnails import THUMBNAIL_ROUTES, ThumbnailNotFound, thumbnail_request
from imaging.dicomweb.upstream import (
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
    upstream_pool,
    upstream_pools_close,
)
from imaging.selectors import imaging_study_get_for_user, imaging_study_uids_for_user
from imaging.uids import uid_is_valid
from patients.access import patient_identifiable_for_user, patient_pseudonyms_for_user

logger = logging.getLogger(__name__)

QIDO_ROUTES = frozenset({"qido-studies", "qido-study-series", "qido-study-instances", "qido-series-instances"})
JSON_ROUTES = QIDO_ROUTES | {"study-metadata", "series-metadata", "instance-metadata"}
_QIDO_KEYS = frozenset({"includefield", "limit", "offset", "fuzzymatching"})
_WADO_KEYS = frozenset({"charset", "quality", "viewport", "window", "annotation", "iccprofile"})
_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
_MAX_PARAMS = 64
_MAX_VALUE = 1024
_MAX_ACCEPT = 512
_REFUSED_CONTENT_TYPES = ("multipart/", "application/zip", "application/x-zip", "application/gzip",
                          "application/x-gzip", "application/x-tar", "application/x-7z", "application/octet-stream",
                          "application/dicom")
_ARCHIVE_ACCEPT = ("application/zip", "application/x-zip", "application/gzip", "application/x-tar")
# Answer statuses of the PACS that are passed on as they are; everything else becomes 502.
_PASSED_STATUSES = frozenset({200, 204, 206, 400, 404, 406})
_RESPONSE_HEADERS = (("content-type", "Content-Type"), ("content-length", "Content-Length"), ("warning", "Warning"))
_RELAY_CHUNK = 256 * 1024
# Answers with a Content-Length up to this size (a frame, metadata, a rendered image) are read
# whole and passed on as one message: on a small machine the ASGI server's per-chunk work costs
# more than the bytes. Larger ones (a series, a big instance) stream chunk by chunk.
WHOLE_BODY_MAX = 4 * 1024 * 1024
# Where cdss/urls.py mounts this proxy (imaging.dicomweb.urls).
PROXY_ROOT = "/dicomweb"


def proxy_error(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "detail": None}, status=status, headers=headers or None)


# --- 1. refusals ---------------------------------------------------------------------------

def proxy_request_refusal(request: HttpRequest) -> HttpResponse | None:
    """A response refusing the request before any database or PACS work, or None."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding and encoding != "identity":
        return proxy_error(415, "encoded_body_refused", "Compressed request bodies are not accepted.")
    length_header = request.headers.get("Content-Length", "").strip() or "0"
    try:
        length = int(length_header)
    except ValueError:
        return proxy_error(400, "malformed_request", "Content-Length is not a number.")
    if length > settings.DICOMWEB_PROXY_MAX_BODY or length < 0 or "Transfer-Encoding" in request.headers:
        return proxy_error(413, "body_too_large", "The request body is too large.")
    if request.method not in ("GET", "HEAD"):
        return proxy_error(405, "method_not_allowed", "Only GET and HEAD are allowed here.", Allow="GET, HEAD")
    content_type = request.headers.get("Content-Type", "").strip().lower()
    if content_type.startswith(_REFUSED_CONTENT_TYPES):
        return proxy_error(415, "body_refused", "Request bodies are not accepted here.")
    accept = request.headers.get("Accept", "")
    if len(accept) > _MAX_ACCEPT or not accept.isprintable():
        return proxy_error(400, "malformed_request", "The Accept header is not acceptable.")
    if any(kind in accept.lower() for kind in _ARCHIVE_ACCEPT):
        return proxy_error(406, "archive_refused", "Archives are not served; ask for DICOM or JSON.")
    return None


def _is_attribute(key: str) -> bool:
    """A QIDO-RS match key: a DICOM keyword or tag, or a dotted path of them (at most 8 deep)."""
    parts = key.split(".")
    return len(parts) <= 8 and all(
        bool(_TAG.match(part)) or (part.isalnum() and tag_for_keyword(part) is not None) for part in parts
    )


def _query_params(request: HttpRequest, route: str) -> list[tuple[str, str]] | HttpResponse:
    params: list[tuple[str, str]] = []
    qido = route in QIDO_ROUTES
    for key, values in request.GET.lists():
        allowed = (key in _QIDO_KEYS or _is_attribute(key)) if qido else key in _WADO_KEYS
        if not allowed:
            return proxy_error(400, "unsupported_parameter", f"Unsupported query parameter {key[:40]!r}.")
        for value in values:
            if len(value) > _MAX_VALUE or not value.isprintable():
                return proxy_error(400, "malformed_request", "A query parameter value is not acceptable.")
            if key in ("limit", "offset") and not value.isdigit():
                return proxy_error(400, "malformed_request", f"{key} must be a non-negative integer.")
            params.append((key, value))
    if len(params) > _MAX_PARAMS:
        return proxy_error(400, "malformed_request", "Too many query parameters.")
    return params


# --- 2. authentication and access (one trip to a worker thread) -------------------------------

@dataclass(frozen=True)
class ProxyAccess:
    user: Any
    study_id: int | None = None
    patient_id: int | None = None
    allowed: dict[str, tuple[int, int]] | None = None  # for QIDO over all studies
    # A de-identified share: the path's UIDs are pseudonyms of these real ones, and what is
    # relayed is de-identified (``_deid_forward``). Such a decision is never cached.
    pseudonym: str | None = None
    real_study_uid: str | None = None
    # For QIDO over all studies: pseudonymous StudyInstanceUID -> (real one, pseudonym).
    pseudonymous: dict[str, tuple[str, str]] | None = None


class _Unauthenticated(Exception):
    pass


def _authenticate(request: HttpRequest) -> Any:
    header = get_authorization_header(request).split()  # type: ignore[arg-type]  # reads META only
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
        allowed = imaging_study_uids_for_user(user)
        pseudonyms = patient_pseudonyms_for_user(user)
        pseudonymous = {
            uid_pseudonym(uid, pseudonym=pseudonyms[patient_id]): (uid, pseudonyms[patient_id])
            for uid, (_study_id, patient_id) in allowed.items() if patient_id in pseudonyms
        }
        return ProxyAccess(user=user, allowed=allowed, pseudonymous=pseudonymous)
    resolved = study_resolve_for_user(user, study_uid)
    if resolved is not None:
        real_uid, pseudonym = resolved
        study = imaging_study_get_for_user(user, real_uid, request=request, route=route)
        return ProxyAccess(user=user, study_id=study.pk, patient_id=study.patient_id, pseudonym=pseudonym,
                           real_study_uid=real_uid)
    study = imaging_study_get_for_user(user, study_uid, request=request, route=route)
    if not patient_identifiable_for_user(user, study.patient_id):
        raise NotFound("Study not found.")  # a de-identified share knows the pseudonymous UIDs only
    return ProxyAccess(user=user, study_id=study.pk, patient_id=study.patient_id)


class _AccessCache:
    """Recent positive decisions, so that a viewer loading hundreds of frames of one study costs
    one database check, not hundreds. Keyed by a hash of the credential (token or session key)
    and the StudyInstanceUID; entries live DICOMWEB_PROXY_ACCESS_CACHE_S seconds (0 turns the
    cache off), so a revoked right ends at most that long after the change. Denials are never
    cached. Only the event loop's thread touches it.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        self.entries: OrderedDict[tuple[str, str], tuple[float, ProxyAccess]] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: tuple[str, str]) -> ProxyAccess | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self.entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, str], access: ProxyAccess, ttl: float) -> None:
        self.entries[key] = (time.monotonic() + ttl, access)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()


ACCESS_CACHE = _AccessCache()


def credential_key(*, authorization: str | None, session: str | None) -> str | None:
    """What identifies a caller in ACCESS_CACHE: a hash of its token header or session key."""
    if authorization:
        return "t:" + hashlib.sha256(authorization.encode()).hexdigest()
    return "s:" + hashlib.sha256(session.encode()).hexdigest() if session else None


def _credential_key(request: HttpRequest) -> str | None:
    return credential_key(
        authorization=request.headers.get("Authorization"), session=request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    )


# (request or anything with META and request_id, user, study id, patient id, route)
_AuditEntry = tuple[Any, Any, int | None, int | None, str]


class _AuditWriter:
    """Writes the proxy's read entries, one INSERT and one transaction per batch.

    Every access gets its own entry; they are committed together a few milliseconds after the
    answer has started, instead of one commit (and disk flush) per frame on the request path.
    Denials are written at once, on the request path (see ``imaging_study_get_for_user``).
    """

    delay_s = 0.05

    def __init__(self) -> None:
        self.pending: list[_AuditEntry] = []
        self.task: asyncio.Task[None] | None = None
        self.series_views: dict[tuple[Any, int | None, str], float] = {}

    def add(self, request: Any, access: ProxyAccess, route: str,
            study_id: int | None = None, patient_id: int | None = None, series: str | None = None) -> None:
        if series is not None and route in SERIES_VIEW_ROUTES and not self._first_in_series_view(access, study_id, series):
            return
        self.pending.append((request, access.user, study_id or access.study_id, patient_id or access.patient_id, route))
        if self.task is None or self.task.done():
            # A fresh context: the request's own (its worker thread) ends with the request.
            self.task = asyncio.get_running_loop().create_task(self._later(), context=contextvars.Context())

    def _first_in_series_view(self, access: ProxyAccess, study_id: int | None, series: str) -> bool:
        """Whether this read opens a view of the series (for this user, in this process).

        A viewer reads a series' metadata and then every frame: one entry per view, not dozens
        per scroll, which buried every other entry. A read of the same series by the same user
        within DICOMWEB_AUDIT_SERIES_VIEW_S of the view's first read belongs to that view.
        """
        now = time.monotonic()
        key = (getattr(access.user, "pk", None), study_id or access.study_id, series)
        if self.series_views.get(key, 0.0) > now:
            return False
        if len(self.series_views) > _SERIES_VIEWS_MAX:
            self.series_views = {k: t for k, t in self.series_views.items() if t > now}
        self.series_views[key] = now + float(settings.DICOMWEB_AUDIT_SERIES_VIEW_S)
        return True

    async def _later(self) -> None:
        await asyncio.sleep(self.delay_s)
        await self.flush(raise_errors=False)

    async def flush(self, *, raise_errors: bool = True) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await sync_to_async(_audit_write)(batch)
            except Exception:
                # Keep them for the next write (bounded), and say so loudly.
                logger.exception("could not write %d DICOMweb audit entries; kept for the next attempt", len(batch))
                self.pending[:0] = batch[: max(0, _AUDIT_PENDING_MAX - len(self.pending))]
                if raise_errors:
                    raise
                return


_AUDIT_PENDING_MAX = 100_000
_SERIES_VIEWS_MAX = 10_000
# Reads of one series (its metadata, frames, instances, rendered images) that make up a view.
SERIES_VIEW_ROUTES = frozenset({
    "series", "series-metadata", "series-rendered", "series-thumbnail", "qido-series-instances",
    "instance", "instance-metadata", "instance-rendered", "instance-thumbnail", "frames", "frames-rendered", "bulk",
})


def _audit_write(batch: list[_AuditEntry]) -> None:
    if not connection.in_atomic_block:
        # This runs outside any request, so nothing else recycles a broken or expired connection.
        close_old_connections()
    audit_reads_record([
        audit_event_build(
            actor=user, action=AuditAction.READ, object_type="imaging_study", object_id=study_id,
            patient_id=patient_id, request=request, detail={"route": route},
        )
        for request, user, study_id, patient_id, route in batch
    ])


_audit_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AuditWriter] = weakref.WeakKeyDictionary()


def audit_writer() -> _AuditWriter:
    loop = asyncio.get_running_loop()
    writer = _audit_writers.get(loop)
    if writer is None:
        writer = _audit_writers[loop] = _AuditWriter()
    return writer


# --- 3. the PACS connection --------------------------------------------------------------------

def _pool() -> UpstreamPool:
    """This event loop's keep-alive connections to the PACS (Daphne runs one loop)."""
    return upstream_pool(
        dicomweb_base_url(),
        max_idle=settings.DICOMWEB_PROXY_MAX_CONNECTIONS,
        idle_s=0.9,  # Orthanc closes idle connections after 1 s
        connect_timeout=settings.DICOMWEB_PROXY_CONNECT_TIMEOUT_S,
        read_timeout=settings.DICOMWEB_TIMEOUT_S,
    )


async def dicomweb_proxy_close() -> None:
    """Write pending audit entries and close this event loop's PACS connections.

    Tests call it before their event loop ends; under Daphne the loop lives as long as the
    process.
    """
    loop = asyncio.get_running_loop()
    writer = _audit_writers.pop(loop, None)
    if writer is not None:
        if writer.task is not None and not writer.task.done():
            writer.task.cancel()
        await writer.flush()
    await upstream_pools_close()


def _upstream_headers(accept: str, route: str) -> dict[str, str]:
    accept = accept.strip()
    if route in JSON_ROUTES and (not accept or accept == "*/*" or "json" not in accept):
        accept = "application/dicom+json"
    headers = {"Accept-Encoding": "identity"}
    if accept:
        headers["Accept"] = accept
    return headers


async def upstream_request(*, accept: str, route: str, path: str, params: list[tuple[str, str]]) -> UpstreamResponse:
    """GET ``path`` from the PACS with only the safe headers; the body is left to stream.

    Commas stay literal in the query (a list in DICOMweb: ``viewport=128,128``, UID lists):
    Orthanc refuses ``viewport=128%2C128``.
    """
    target = path + ("?" + urlencode(params, safe=",") if params else "")
    return await _pool().get(target, headers=_upstream_headers(accept, route), auth=dicomweb_auth())


async def proxy_upstream(*, accept: str, route: str, parts: dict[str, str], params: list[tuple[str, str]]) -> UpstreamResponse:
    """The PACS's answer for one proxy route (a thumbnail the PACS lacks is made here, ``thumbnails.py``).

    Raises ThumbnailNotFound when a thumbnail has nothing to show.
    """
    if route in THUMBNAIL_ROUTES:
        return await thumbnail_request(
            upstream_request, base_url=dicomweb_base_url(), accept=accept, route=route, parts=parts, params=params,
            max_qido_bytes=settings.DICOMWEB_PROXY_QIDO_MAX_BYTES,
        )
    return await upstream_request(accept=accept, route=route, path=upstream_path(route, parts), params=params)


async def _upstream_send(request: HttpRequest, path: str, params: list[tuple[str, str]], route: str) -> UpstreamResponse:
    return await upstream_request(accept=request.headers.get("Accept", ""), route=route, path=path, params=params)


def pacs_failure(status: int) -> JsonResponse:
    if status == 404:
        return proxy_error(404, "not_found", "Not found.")
    logger.warning("PACS answered HTTP %s through the proxy", status)
    return proxy_error(502, "pacs_error", "The PACS could not answer this request.")


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

    def whole(self, body: bytes, content_type: str) -> bytes:
        """A whole answer rewritten: in a multipart answer only the part headers (where the
        PACS writes Content-Location), never the part bodies: pixel data that happens to hold
        the PACS's URL stays as it is, and is not scanned at all when the parts say their
        Content-Length. Anything else, or a multipart body not as expected, everywhere."""
        boundary = multipart_boundary(content_type)
        if boundary is not None:
            parts = _multipart_headers_rewrite(body, b"--" + boundary, self.replace)
            if parts is not None:
                return parts
        return self.replace(body)


_BOUNDARY = re.compile(r'boundary="?([^";,]{1,200})"?', re.I)
_PART_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,12})[ \t]*$", re.I | re.M)
_PART_HEAD_MAX = 16 * 1024


def multipart_boundary(content_type: str) -> bytes | None:
    if not content_type.lower().startswith("multipart/"):
        return None
    match = _BOUNDARY.search(content_type)
    return match.group(1).encode("latin-1") if match else None


def _multipart_headers_rewrite(body: bytes, delimiter: bytes, rewrite: Callable[[bytes], bytes]) -> bytes | None:
    """``body`` with ``rewrite`` applied to each part's headers only; None if it is not a
    well-formed multipart body with that delimiter."""
    if not body.startswith(delimiter):
        return None
    view = memoryview(body)
    pieces: list[bytes | memoryview] = []
    position = 0
    while True:
        after = position + len(delimiter)
        if body[after : after + 2] == b"--":  # the closing delimiter, and whatever follows it
            pieces.append(view[position:])
            return b"".join(pieces)
        head_end = body.find(b"\r\n\r\n", after, after + _PART_HEAD_MAX)
        if head_end < 0:
            return None
        head = body[position : head_end + 4]
        pieces.append(rewrite(head))
        start = head_end + 4
        length = _PART_LENGTH.search(head)
        end = start + int(length.group(1)) if length else -1
        if end < 0 or body[end : end + 2 + len(delimiter)] != b"\r\n" + delimiter:
            end = body.find(b"\r\n" + delimiter, start)
            if end < 0:
                return None
        pieces.append(view[start : end + 2])
        position = end + 2


def pacs_prefixes() -> list[bytes]:
    """The absolute URL prefixes the PACS may write into its answers."""
    return list(_prefixes(dicomweb_base_url(), tuple(settings.DICOMWEB_ADVERTISED_URLS)))


@functools.lru_cache(maxsize=8)
def _prefixes(base_url: str, advertised: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(t.rstrip("/").encode() for t in (base_url, *advertised))


def url_rewriter_for(request: HttpRequest) -> UrlRewriter:
    return UrlRewriter(pacs_prefixes(), request.build_absolute_uri(PROXY_ROOT).encode())


# --- 5. streaming back -------------------------------------------------------------------------

async def relay(upstream: UpstreamResponse, rewriter: UrlRewriter | None) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.iter_raw(_RELAY_CHUNK):
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

    def __init__(self, upstream: UpstreamResponse, rewriter: UrlRewriter | None, **kwargs: Any) -> None:
        super().__init__(relay(upstream, rewriter), **kwargs)
        self._upstream = upstream
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        super().close()
        if not self._upstream.closed:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                asyncio.run_coroutine_threadsafe(self._upstream.aclose(), self._loop)


async def proxy_forward(request: HttpRequest, route: str, parts: dict[str, str], params: list[tuple[str, str]]) -> HttpResponseBase:
    try:
        upstream = await proxy_upstream(accept=request.headers.get("Accept", ""), route=route, parts=parts, params=params)
    except ThumbnailNotFound:
        return proxy_error(404, "not_found", "Not found.")
    except UpstreamError as exc:
        logger.warning("PACS unreachable through the proxy: %s", exc)
        return proxy_error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
    status = upstream.status
    if status not in _PASSED_STATUSES or status == 404:
        await upstream.aclose()
        return pacs_failure(status)
    # JSON carries BulkDataURI/RetrieveURL; multipart answers carry Content-Location part headers.
    content_kind = upstream.headers.get("content-type", "").lower()
    rewrites = route in JSON_ROUTES or content_kind.startswith("multipart/")
    rewriter = url_rewriter_for(request) if rewrites and status in (200, 206) else None
    headers = {name: upstream.headers[key] for key, name in _RESPONSE_HEADERS if key in upstream.headers}
    if rewriter is not None:
        headers.pop("Content-Length", None)  # the rewritten body has another length
    if request.method == "HEAD" or status == 204:
        await upstream.aclose()
        response = HttpResponse(status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    content_type = headers.pop("Content-Type", "application/octet-stream")
    length = upstream.content_length
    if length is not None and length <= WHOLE_BODY_MAX:
        try:
            body = await upstream.read_body()
        except UpstreamError as exc:
            logger.warning("PACS answer broken through the proxy: %s", exc)
            return proxy_error(502, "pacs_error", "The PACS could not answer this request.")
        if rewriter is not None:
            body = rewriter.whole(body, content_type)
        response = HttpResponse(body, status=status, content_type=content_type)
        for name, value in headers.items():
            response[name] = value
        response["Content-Length"] = str(len(body))
        return response
    streaming = UpstreamStreamingResponse(upstream, rewriter, status=status, content_type=content_type)
    for name, value in headers.items():
        streaming[name] = value
    return streaming


# --- QIDO-RS over all studies: scoped to the user's studies ----------------------------------------

def _uid_list(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\\]", value) if part.strip()]


async def _qido_studies(request: HttpRequest, access: ProxyAccess, params: list[tuple[str, str]]) -> HttpResponseBase:
    allowed = access.allowed or {}
    pseudonymous = access.pseudonymous or {}
    pseudonym_of = {real: pseudonym for real, pseudonym in pseudonymous.values()}
    wanted = set(allowed)
    passed: list[tuple[str, str]] = []
    limit = offset = None
    for key, value in params:
        if key == "limit":
            limit = int(value)
        elif key == "offset":
            offset = int(value)
        elif key in ("StudyInstanceUID", "0020000D"):
            # A de-identified share names its studies by their pseudonyms.
            named = {pseudonymous[uid][0] if uid in pseudonymous else uid for uid in _uid_list(value) if uid_is_valid(uid)}
            wanted &= named
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
        except UpstreamError as exc:
            logger.warning("PACS unreachable through the proxy: %s", exc)
            return proxy_error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
        try:
            if upstream.status == 204:
                continue
            if upstream.status != 200:
                if upstream.status == 400:
                    return proxy_error(400, "pacs_bad_request", "The PACS rejected this query.")
                return pacs_failure(upstream.status)
            body = bytearray()
            async for part in upstream.iter_raw():
                body += part
                if len(body) > settings.DICOMWEB_PROXY_QIDO_MAX_BYTES:
                    return proxy_error(502, "pacs_answer_too_large", "The PACS answer is too large; narrow the query.")
        except UpstreamError as exc:
            logger.warning("PACS answer broken through the proxy: %s", exc)
            return proxy_error(502, "pacs_error", "The PACS could not answer this request.")
        finally:
            await upstream.aclose()
        try:
            items = json.loads(body) if body.strip() else []
        except ValueError:
            return proxy_error(502, "pacs_error", "The PACS answered something that is not JSON.")
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
    writer = audit_writer()
    for item in found:
        study_id, patient_id = allowed[item["0020000D"]["Value"][0]]
        writer.add(request, access, "qido-studies", study_id, patient_id)
    found = [
        json_deidentify(item, pseudonym=pseudonym_of[item["0020000D"]["Value"][0]])
        if item["0020000D"]["Value"][0] in pseudonym_of else item
        for item in found
    ]
    payload = url_rewriter_for(request).replace(json.dumps(found, separators=(",", ":")).encode())
    return HttpResponse(payload, content_type="application/dicom+json", status=200)


# --- the view ---------------------------------------------------------------------------------

def upstream_path(route: str, parts: dict[str, str]) -> str:
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
    study_uid = parts.get("study")
    credential = _credential_key(request)
    ttl = float(settings.DICOMWEB_PROXY_ACCESS_CACHE_S)
    cache_key = (credential, study_uid) if credential and study_uid and ttl > 0 else None
    access = ACCESS_CACHE.get(cache_key) if cache_key else None
    if access is None:
        try:
            access = await sync_to_async(_authorize)(request, route, study_uid)
        except _Unauthenticated:
            return proxy_error(401, "not_authenticated", "Authentication credentials were not provided or are invalid.",
                          **{"WWW-Authenticate": "Token"})
        except NotFound:
            return proxy_error(404, "not_found", "Not found.")
        if cache_key and access.pseudonym is None:
            ACCESS_CACHE.put(cache_key, access, ttl)
    if route == "qido-studies":
        return await _qido_studies(request, access, params)
    audit_writer().add(request, access, route, series=parts.get("series"))
    if access.pseudonym is not None:
        if not _DEID_RELAY:  # never relay a share's answers without de-identifying them
            return proxy_error(503, "deidentification_unavailable", "De-identified sharing is not available.")
        return await _DEID_RELAY[0](request, route, parts, params, access)
    return await proxy_forward(request, route, parts, params)


DeidRelay = Callable[[HttpRequest, str, dict[str, str], list[tuple[str, str]], ProxyAccess], Awaitable[HttpResponseBase]]
_DEID_RELAY: list[DeidRelay] = []


def deid_relay_install(relay: DeidRelay) -> None:
    """Called once by ``imaging.apps``: the relay for de-identified shares (``proxy_deid``),
    which builds on this module and so cannot be imported by it."""
    _DEID_RELAY[:] = [relay]


async def dicomweb_not_found(request: HttpRequest, rest: str = "") -> HttpResponseBase:
    """Every other path under /dicomweb/: never forwarded, whatever the method."""
    return proxy_request_refusal(request) or proxy_error(404, "not_found", "Not found.")
