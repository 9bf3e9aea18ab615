"""The DICOMweb proxy's relay for de-identified shares (``proxy.dicomweb_proxy`` hands a request
here when its access carries a pseudonym): the pseudonymous UIDs of the path resolved to the real
ones, and every answer de-identified before it leaves.

The PACS is asked through ``proxy.proxy_upstream`` (looked up on the module at call time, as the
proxy's own relay does), so one stand-in for the PACS serves both in tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from io import BytesIO

import pydicom
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from imaging.deid import (
    BURNED_IN_WITHHELD,
    dataset_deidentify,
    json_deidentify,
    pixels_withheld_for_series,
    series_resolve,
    uid_pseudonym,
    url_uids_map,
)
from imaging.dicomweb import proxy
from imaging.dicomweb.proxy import (
    JSON_ROUTES,
    PROXY_ROOT,
    ProxyAccess,
    UrlRewriter,
    multipart_boundary,
    pacs_failure,
    pacs_prefixes,
    proxy_error,
    proxy_forward,
    url_rewriter_for,
)
from imaging.dicomweb.thumbnails import ThumbnailNotFound
from imaging.dicomweb.upstream import UpstreamError

logger = logging.getLogger("imaging.dicomweb.proxy")


_DEID_MAX_BYTES = 64 * 1024 * 1024
# Routes whose answers are pixels only (no attributes): relayed as they are, with the UIDs in
# multipart part headers mapped.
_PIXEL_ROUTES = frozenset({"frames", "frames-rendered", "study-rendered", "series-rendered", "instance-rendered",
                           "study-thumbnail", "series-thumbnail", "instance-thumbnail"})
_PIXEL_DATA_TAG = "7FE00010"
# (pseudonym, real series UID) -> (when read, pseudonymous SOPInstanceUID -> real one)
_INSTANCE_MAPS: OrderedDict[tuple[str, str], tuple[float, dict[str, str]]] = OrderedDict()
_INSTANCE_MAP_TTL_S = 60.0


class _DeidRewriter(UrlRewriter):
    """The proxy's URL rewriting plus the pseudonymisation of every UID in those URLs."""

    def __init__(self, prefixes: list[bytes], replacement: bytes, *, pseudonym: str) -> None:
        super().__init__(prefixes, replacement)
        self.pseudonym = pseudonym

    def replace(self, data: bytes) -> bytes:
        text = super().replace(data).decode("latin-1")
        return url_uids_map(text, pseudonym=self.pseudonym).encode("latin-1")


async def _instance_resolve(study: str, series: str, uid: str, pseudonym: str) -> str | None:
    key = (pseudonym, series)
    entry = _INSTANCE_MAPS.get(key)
    if entry is None or entry[0] < time.monotonic() or uid not in entry[1]:
        upstream = await proxy.proxy_upstream(accept="application/dicom+json", route="qido-series-instances",
                                        parts={"study": study, "series": series}, params=[])
        try:
            body = await upstream.read_body() if upstream.status == 200 else b"[]"
        finally:
            await upstream.aclose()
        items = json.loads(body or b"[]")
        mapping = {}
        for item in items if isinstance(items, list) else []:
            values = (item.get("00080018") or {}).get("Value") or []
            if values:
                mapping[uid_pseudonym(str(values[0]), pseudonym=pseudonym)] = str(values[0])
        _INSTANCE_MAPS[key] = (time.monotonic() + _INSTANCE_MAP_TTL_S, mapping)
        _INSTANCE_MAPS.move_to_end(key)
        while len(_INSTANCE_MAPS) > 1000:
            _INSTANCE_MAPS.popitem(last=False)
        entry = _INSTANCE_MAPS[key]
    return entry[1].get(uid)


def _multipart_deidentify(body: bytes, content_type: str, pseudonym: str) -> bytes | None:
    """Each application/dicom part of a multipart answer, parsed and de-identified."""

    boundary = multipart_boundary(content_type)
    if boundary is None:
        return None
    delimiter = b"--" + boundary
    out: list[bytes] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head_end = chunk.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        part = chunk[head_end + 4 :]
        part = part.removesuffix(b"\r\n")
        ds = pydicom.dcmread(BytesIO(part), force=True)
        clean = dataset_deidentify(ds, pseudonym=pseudonym)
        clean.file_meta = pydicom.dataset.FileMetaDataset()
        clean.file_meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
        clean.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        clean.file_meta.MediaStorageSOPInstanceUID = clean.SOPInstanceUID
        buffer = BytesIO()
        clean.save_as(buffer, enforce_file_format=True)
        out.append(b"\r\nContent-Type: application/dicom\r\n\r\n" + buffer.getvalue() + b"\r\n")
    return delimiter + delimiter.join(out) + delimiter + b"--\r\n" if out else None


async def deid_forward(request: HttpRequest, route: str, parts: dict[str, str], params: list[tuple[str, str]],
                        access: ProxyAccess) -> HttpResponseBase:
    """Relay for a de-identified share: the pseudonymous UIDs of the path resolved to the real
    ones, and the answer de-identified (attributes by the retain list of ``imaging.deid``,
    instances parsed and rewritten, pixel answers with their part headers' UIDs mapped)."""
    pseudonym = access.pseudonym or ""
    real = dict(parts, study=access.real_study_uid or "")
    try:
        if parts.get("series"):
            series = await sync_to_async(series_resolve)(study_id=access.study_id or 0, uid=parts["series"], pseudonym=pseudonym)
            if series is None:
                return proxy_error(404, "not_found", "Not found.")
            real["series"] = series
        if parts.get("instance"):
            instance = await _instance_resolve(real["study"], real["series"], parts["instance"], pseudonym)
            if instance is None:
                return proxy_error(404, "not_found", "Not found.")
            real["instance"] = instance
    except UpstreamError as exc:
        logger.warning("PACS unreachable through the proxy: %s", exc)
        return proxy_error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
    if route == "bulk" and not parts.get("tag_path", "").upper().startswith(_PIXEL_DATA_TAG):
        return proxy_error(404, "not_found", "Not found.")  # only pixel data leaves as bulk data
    rewriter = _DeidRewriter(pacs_prefixes(), request.build_absolute_uri(PROXY_ROOT).encode(), pseudonym=pseudonym)
    if route in _PIXEL_ROUTES or route == "bulk":
        # Pixels of a series that may carry burned-in text never leave through a share as they are.
        if await sync_to_async(pixels_withheld_for_series)(study_id=access.study_id or 0, series_uid=real.get("series")):
            return proxy_error(403, "burned_in_withheld", BURNED_IN_WITHHELD)
        response = await proxy_forward(request, route, real, params)
        if isinstance(response, HttpResponse) and response.status_code in (200, 206):
            pixels = rewriter.whole(response.content, response.get("Content-Type", ""))
            response.content = pixels
            response["Content-Length"] = str(len(pixels))
        return response
    try:
        upstream = await proxy.proxy_upstream(accept=request.headers.get("Accept", ""), route=route, parts=real, params=params)
    except ThumbnailNotFound:
        return proxy_error(404, "not_found", "Not found.")
    except UpstreamError as exc:
        logger.warning("PACS unreachable through the proxy: %s", exc)
        return proxy_error(503, "pacs_unavailable", "The PACS is unreachable; try again shortly.", **{"Retry-After": "5"})
    try:
        if upstream.status == 204:
            return HttpResponse(status=204)
        if upstream.status not in (200, 206):
            return pacs_failure(upstream.status) if upstream.status != 400 else proxy_error(400, "pacs_bad_request", "The PACS rejected this query.")
        content_type = upstream.headers.get("content-type", "application/octet-stream")
        body = bytearray()
        async for chunk in upstream.iter_raw():
            body += chunk
            if len(body) > _DEID_MAX_BYTES:
                return proxy_error(502, "pacs_answer_too_large", "The answer is too large to de-identify; ask for less.")
    except UpstreamError as exc:
        logger.warning("PACS answer broken through the proxy: %s", exc)
        return proxy_error(502, "pacs_error", "The PACS could not answer this request.")
    finally:
        await upstream.aclose()
    if route in JSON_ROUTES:
        try:
            items = json.loads(bytes(body)) if body.strip() else []
        except ValueError:
            return proxy_error(502, "pacs_error", "The PACS answered something that is not JSON.")
        to_proxy = url_rewriter_for(request).replace
        clean = [json_deidentify(item, pseudonym=pseudonym,
                                 url_uid_map=lambda uri: url_uids_map(to_proxy(uri.encode()).decode(), pseudonym=pseudonym))
                 for item in items if isinstance(item, dict)]
        return HttpResponse(json.dumps(clean, separators=(",", ":")).encode(), content_type="application/dicom+json")
    cleaned = await sync_to_async(_multipart_deidentify)(bytes(body), content_type, pseudonym)
    if cleaned is None:
        # Never relay attributes that could not be de-identified.
        return proxy_error(502, "deidentification_failed", "This answer could not be de-identified.")
    return HttpResponse(cleaned, content_type=content_type)
