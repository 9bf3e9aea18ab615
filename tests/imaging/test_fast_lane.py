"""The ASGI fast lane: serves only what Django has just allowed, hands everything else to Django."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from pydicom.uid import generate_uid
from rest_framework.authtoken.models import Token

from cdss.audit.models import AuditEvent
from imaging.dicomweb import proxy
from imaging.dicomweb.asgi import DicomwebFastLane
from imaging.dicomweb.frame_cache import FRAME_CACHE
from imaging.dicomweb.proxy import dicomweb_proxy_close
from tests.conftest import World
from tests.imaging.conftest import Orthanc, StoredStudy, proxy_fetch, study_store

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


class Inner:
    """Stands in for Django: records what it was handed."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def call(lane: DicomwebFastLane, path: str, *, headers: dict[str, str], method: str = "GET", query: str = "") -> tuple[int, dict[str, str], bytes]:
    async def go() -> tuple[int, dict[str, str], bytes]:
        scope = {
            "type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()],
            "client": ("127.0.0.1", 5000), "scheme": "http", "http_version": "1.1",
        }
        messages: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        try:
            await lane(scope, receive, send)
        finally:
            await dicomweb_proxy_close()
        start = messages[0]
        response_headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
        return start["status"], response_headers, b"".join(m.get("body", b"") for m in messages[1:])

    return async_to_sync(go)()


@pytest.fixture(autouse=True)
def empty_frame_cache() -> Iterator[None]:
    FRAME_CACHE.clear()
    yield
    FRAME_CACHE.clear()


@pytest.fixture
def stored(world: World, orthanc: Orthanc) -> Iterator[StoredStudy]:
    yield study_store(orthanc, world.patient, instances=1, rows=32, columns=32)


def frame_path(stored: StoredStudy) -> str:
    return f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/instances/{stored.sop_uids[0]}/frames/1"


def allowed_token(world: World, stored: StoredStudy) -> str:
    """A token whose access to the study Django has just checked (and so remembered)."""
    token = Token.objects.create(user=world.clinician).key
    assert proxy_fetch(None, f"/dicomweb/studies/{stored.study_uid}/series", headers={"Authorization": f"Token {token}"}).status == 200
    return token


def test_nothing_remembered_goes_to_django(world: World, stored: StoredStudy) -> None:
    inner = Inner()
    lane = DicomwebFastLane(inner)
    token = Token.objects.create(user=world.clinician).key
    status, _headers, body = call(lane, frame_path(stored), headers={"Authorization": f"Token {token}"})
    assert (status, body) == (299, b"django") and inner.paths == [frame_path(stored)]


def test_remembered_frames_are_served_and_audited(world: World, stored: StoredStudy) -> None:
    token = allowed_token(world, stored)
    before = AuditEvent.objects.filter(object_type="imaging_study", detail__route="frames").count()
    inner = Inner()
    status, headers, body = call(DicomwebFastLane(inner), frame_path(stored),
                                 headers={"Authorization": f"Token {token}", "Accept": FRAME_ACCEPT, "X-Request-ID": "req-42"})
    assert status == 200 and inner.paths == []
    assert stored.datasets[0].PixelData in body
    assert b"127.0.0.1:" not in body and b"Content-Location: http://testserver/dicomweb/studies/" in body
    assert headers["cache-control"] == "no-store, private" and headers["x-content-type-options"] == "nosniff"
    request_id = headers["x-request-id"]
    assert request_id != "req-42" and len(request_id) == 32  # made by the server
    entries = AuditEvent.objects.filter(object_type="imaging_study", detail__route="frames")
    assert entries.count() == before + 1
    entry = entries.latest("pk")
    assert (entry.actor_id, entry.patient_id, entry.request_id, entry.client_ip) == (world.clinician.pk, world.patient.pk, request_id, "127.0.0.1")
    assert entry.client_request_id == "req-42"


def test_remembered_metadata_is_served_rewritten(world: World, stored: StoredStudy) -> None:
    token = allowed_token(world, stored)
    inner = Inner()
    status, headers, body = call(DicomwebFastLane(inner), f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/metadata",
                                 headers={"Authorization": f"Token {token}"})
    assert status == 200 and inner.paths == [] and headers["content-type"] == "application/dicom+json"
    assert b"127.0.0.1:" not in body and b'"http://testserver/dicomweb/studies/' in body
    assert stored.sop_uids[0].encode() in body


def test_anything_unusual_goes_to_django(world: World, stored: StoredStudy, orthanc: Orthanc, settings: Any) -> None:
    token = allowed_token(world, stored)
    auth = {"Authorization": f"Token {token}"}
    other = study_store(orthanc, world.patient, instances=1)
    cases: list[tuple[str, dict[str, str], str, str]] = [
        (frame_path(stored), {**auth, "Content-Length": "10"}, "GET", ""),
        (frame_path(stored), {**auth, "Content-Encoding": "gzip"}, "GET", ""),
        (frame_path(stored), auth, "HEAD", ""),
        (frame_path(stored), auth, "POST", ""),
        (frame_path(stored), auth, "GET", "callback=x"),
        (frame_path(stored), {**auth, "Accept": "application/zip"}, "GET", ""),
        (frame_path(stored), {"Authorization": "Token someone-else"}, "GET", ""),
        (frame_path(stored), {**auth, "Host": "evil.example"}, "GET", ""),
        (frame_path(other), auth, "GET", ""),  # another study: not remembered for this token
        (f"/dicomweb/studies/{stored.study_uid}/series", auth, "GET", ""),  # QIDO-RS: always Django
        (f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/instances/{generate_uid()}/frames/1", auth, "GET", ""),
        ("/dicomweb/tools/execute-script", auth, "GET", ""),
    ]
    for path, headers, method, query in cases:
        inner = Inner()
        status, _h, body = call(DicomwebFastLane(inner), path, headers=headers, method=method, query=query)
        assert (status, body, inner.paths) == (299, b"django", [path]), (path, headers, method, query)
    settings.DICOMWEB_PROXY_ACCESS_CACHE_S = 0
    inner = Inner()
    assert call(DicomwebFastLane(inner), frame_path(stored), headers=auth)[0] == 299


def test_a_frame_read_again_comes_from_the_cache_still_checked_and_audited(
    world: World, stored: StoredStudy, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = allowed_token(world, stored)
    auth = {"Authorization": f"Token {token}", "Accept": FRAME_ACCEPT}
    first = call(DicomwebFastLane(Inner()), frame_path(stored), headers=auth)
    other_host = call(DicomwebFastLane(Inner()), frame_path(stored), headers={**auth, "Host": "localhost"})
    assert first[0] == other_host[0] == 200 and len(FRAME_CACHE) == 2
    assert b"http://localhost/dicomweb/" in other_host[2] and b"http://testserver/dicomweb/" in first[2]

    async def pacs_unreachable(**_kwargs: Any) -> Any:
        raise proxy.UpstreamError("the PACS is not asked for a cached frame")

    monkeypatch.setattr(proxy, "proxy_upstream", pacs_unreachable)
    entries = AuditEvent.objects.filter(object_type="imaging_study", detail__route="frames")
    before = entries.count()
    inner = Inner()
    status, headers, body = call(DicomwebFastLane(inner), frame_path(stored), headers={**auth, "X-Request-ID": "again-1"})
    assert (status, body, inner.paths) == (200, first[2], [])
    assert headers["cache-control"] == "no-store, private" and headers["content-length"] == str(len(body))
    assert headers["content-type"] == first[1]["content-type"] and headers["x-request-id"] != "again-1"
    assert call(DicomwebFastLane(Inner()), frame_path(stored), headers={**auth, "Host": "localhost"})[2] == other_host[2]
    assert entries.count() == before + 2 and entries.filter(client_request_id="again-1", actor_id=world.clinician.pk).exists()

    # The cache never stands in for the access check: a caller Django has not allowed goes to Django.
    stranger = Token.objects.create(user=world.other_clinician).key
    inner = Inner()
    assert call(DicomwebFastLane(inner), frame_path(stored), headers={**auth, "Authorization": f"Token {stranger}"})[2] == b"django"
    assert inner.paths == [frame_path(stored)]
    # Turned off, it serves nothing it held.
    settings.DICOMWEB_PROXY_FRAME_CACHE_S = 0
    assert call(DicomwebFastLane(Inner()), frame_path(stored), headers=auth)[:3:2] == (299, b"django")


def test_metadata_is_not_cached(world: World, stored: StoredStudy) -> None:
    token = allowed_token(world, stored)
    path = f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/metadata"
    assert call(DicomwebFastLane(Inner()), path, headers={"Authorization": f"Token {token}"})[0] == 200
    assert len(FRAME_CACHE) == 0
