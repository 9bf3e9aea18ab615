"""WADO-RS thumbnails (DICOM Supplement 203) for a PACS that has none.

Debian 12's Orthanc 1.10 with its DICOMweb plugin 1.7 answers 404 to every ``.../thumbnail``
route (the plugin gained a basic one only in 2025, as an alias of ``/rendered``), but renders
any instance or frame (``.../rendered``) scaled to a ``viewport`` (plugin 1.0 and later). So
when the PACS answers a thumbnail route with 404, the proxy builds the thumbnail from
``/rendered``:

* instance: the instance rendered (the PACS shows its first frame);
* series: its middle instance by InstanceNumber, found with QIDO-RS (the middle frame of a
  multi-frame instance);
* study: the first series by SeriesNumber that holds images (not SEG, SR, PR, KO, RT...),
  then as a series.

The client's ``viewport`` is kept (``128,128`` if none), and so are its other rendering
parameters; the answer is JPEG unless the client accepts only PNG or GIF. Orthanc refuses a
percent-encoded comma in ``viewport`` (400), so the parameters go out with literal commas.

After a 404 from the PACS followed by a good fallback, the proxy skips asking the PACS for
thumbnails for ``NATIVE_RETRY_S`` seconds. Access checks and audit are the caller's, exactly as
for every other route (``proxy.dicomweb_proxy`` and the ASGI fast lane).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable
from typing import Any, Protocol

from imaging.dicomweb.upstream import UpstreamResponse
from imaging.uids import uid_is_valid

THUMBNAIL_ROUTES = frozenset({"study-thumbnail", "series-thumbnail", "instance-thumbnail"})
DEFAULT_VIEWPORT = "128,128"
NATIVE_RETRY_S = 600.0
# Modalities of series that hold no image to show.
NON_IMAGE_MODALITIES = frozenset({
    "SEG", "SR", "PR", "KO", "DOC", "REG", "FID", "PLAN", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD",
    "AU", "ECG", "HD", "OT-SR",
})
_RENDERED_KEYS = frozenset({"viewport", "quality", "window", "annotation", "iccprofile", "charset"})
_JSON = "application/dicom+json"
_TAG_SERIES_UID, _TAG_SOP_UID, _TAG_MODALITY = "0020000E", "00080018", "00080060"
_TAG_SERIES_NUMBER, _TAG_INSTANCE_NUMBER, _TAG_FRAMES = "00200011", "00200013", "00280008"


class ThumbnailNotFound(Exception):
    """Nothing to make a thumbnail of (no series with images, no instance)."""


class UpstreamFetch(Protocol):
    def __call__(self, *, accept: str, route: str, path: str, params: list[tuple[str, str]]) -> Awaitable[UpstreamResponse]: ...


# PACS base URL -> until when its own thumbnails are not asked for (it answered 404 before).
_native_missing: dict[str, float] = {}


def thumbnail_native_reset() -> None:
    _native_missing.clear()


def rendered_accept(accept: str) -> str:
    """The rendered media type to ask the PACS for, from the client's Accept."""
    wanted = accept.lower()
    if not wanted.strip() or any(kind in wanted for kind in ("image/jpeg", "image/*", "*/*")):
        return "image/jpeg"
    for kind in ("image/png", "image/gif"):
        if kind in wanted:
            return kind
    return accept  # the PACS answers 406, passed on as it is


def rendered_params(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kept = [(key, value) for key, value in params if key in _RENDERED_KEYS]
    if not any(key == "viewport" for key, _value in kept):
        kept.insert(0, ("viewport", DEFAULT_VIEWPORT))
    return kept


def _first(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") if isinstance(item.get(tag), dict) else None
    return values[0] if isinstance(values, list) and values else None


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    return number if math.isfinite(number) else math.inf


def series_pick(items: list[Any]) -> str:
    """The SeriesInstanceUID of the first series (by SeriesNumber) that holds images."""
    candidates = []
    for item in items:
        if not isinstance(item, dict):
            continue
        uid = _first(item, _TAG_SERIES_UID)
        modality = str(_first(item, _TAG_MODALITY) or "").upper()
        if isinstance(uid, str) and uid_is_valid(uid) and modality not in NON_IMAGE_MODALITIES:
            candidates.append((_number(_first(item, _TAG_SERIES_NUMBER)), uid))
    if not candidates:
        raise ThumbnailNotFound
    return min(candidates)[1]


def instance_pick(items: list[Any]) -> tuple[str, int]:
    """The middle instance by InstanceNumber, and the frame to show (1-based: the middle one)."""
    candidates = []
    for item in items:
        if not isinstance(item, dict):
            continue
        uid = _first(item, _TAG_SOP_UID)
        if isinstance(uid, str) and uid_is_valid(uid):
            frames = _number(_first(item, _TAG_FRAMES))
            candidates.append((_number(_first(item, _TAG_INSTANCE_NUMBER)), uid, int(frames) if frames != math.inf else 1))
    if not candidates:
        raise ThumbnailNotFound
    candidates.sort()
    _position, uid, frames = candidates[len(candidates) // 2]
    return uid, (frames // 2 + 1) if frames > 1 else 1


async def _qido(fetch: UpstreamFetch, path: str, params: list[tuple[str, str]], max_bytes: int) -> list[Any] | UpstreamResponse:
    """A QIDO-RS answer as a list, or the PACS's answer itself when it is not 200/204."""
    response = await fetch(accept=_JSON, route="qido-thumbnail", path=path, params=params)
    if response.status == 204:
        await response.aclose()
        return []
    if response.status != 200:
        return response
    body = bytearray()
    try:
        async for part in response.iter_raw():
            body += part
            if len(body) > max_bytes:
                raise ThumbnailNotFound
    finally:
        await response.aclose()
    try:
        items = json.loads(body) if body.strip() else []
    except ValueError as exc:
        raise ThumbnailNotFound from exc
    return items if isinstance(items, list) else []


async def thumbnail_request(
    fetch: UpstreamFetch, *, base_url: str, accept: str, route: str, parts: dict[str, str],
    params: list[tuple[str, str]], max_qido_bytes: int,
) -> UpstreamResponse:
    """The PACS's own thumbnail, or one made from ``/rendered``; the body is left to stream.

    Raises ThumbnailNotFound when there is nothing to show; UpstreamError as any PACS request.
    """
    study, series, instance = parts["study"], parts.get("series"), parts.get("instance")
    base = f"studies/{study}" + (f"/series/{series}" if series else "") + (f"/instances/{instance}" if instance else "")
    if _native_missing.get(base_url, 0.0) < time.monotonic():
        native = await fetch(accept=accept, route=route, path=f"{base}/thumbnail", params=params)
        if native.status != 404:
            _native_missing.pop(base_url, None)
            return native
        await native.aclose()
    frame = 1
    if series is None:
        found = await _qido(fetch, f"studies/{study}/series", [], max_qido_bytes)
        if isinstance(found, UpstreamResponse):
            return found
        series = series_pick(found)
    if instance is None:
        found = await _qido(fetch, f"studies/{study}/series/{series}/instances", [("includefield", _TAG_INSTANCE_NUMBER), ("includefield", _TAG_FRAMES)],
                            max_qido_bytes)
        if isinstance(found, UpstreamResponse):
            return found
        instance, frame = instance_pick(found)
    path = f"studies/{study}/series/{series}/instances/{instance}"
    path += f"/frames/{frame}/rendered" if frame > 1 else "/rendered"
    rendered = await fetch(accept=rendered_accept(accept), route=route, path=path, params=rendered_params(params))
    if rendered.status == 200:
        _native_missing[base_url] = time.monotonic() + NATIVE_RETRY_S
    return rendered
