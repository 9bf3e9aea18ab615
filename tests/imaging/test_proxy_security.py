"""What the DICOMweb proxy refuses, and what it never lets through to the PACS.

Two PACS stand-ins: the real test Orthanc (its REST API must stay unreachable), and a recording
HTTP server on loopback in place of the PACS, to see exactly which requests and headers would
have reached it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydicom.uid import generate_uid

from imaging.dicomweb.proxy import UrlRewriter
from imaging.models import ImagingStudy, LinkSource
from tests.conftest import World
from tests.imaging.conftest import Orthanc, ct_dataset, proxy_fetch

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


class RecordingPacs:
    """Answers every GET with a DICOM JSON body holding absolute URLs of itself; records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers.items())})
                base = f"http://127.0.0.1:{recorder.port}/dicom-web"
                body = json.dumps([{"00081190": {"vr": "UR", "Value": [f"{base}/studies/1.2.3"]},
                                    "7FE00010": {"vr": "OW", "BulkDataURI": f"{base}/studies/1.2.3/bulk/7fe00010"}}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Server", "recording-pacs")
                self.send_header("Set-Cookie", "pacs=secret")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                recorder.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers.items())})
                self.send_response(200)
                self.end_headers()

            do_PUT = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingPacs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_pacs(settings: Any) -> Iterator[RecordingPacs]:
    with RecordingPacs() as pacs:
        settings.DICOMWEB_URL = f"http://127.0.0.1:{pacs.port}/dicom-web"
        settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD = "pacs-user", "pacs-secret"
        yield pacs


@pytest.fixture
def linked_study(world: World) -> ImagingStudy:
    return ImagingStudy.objects.create(patient=world.patient, study_instance_uid=generate_uid(), link_source=LinkSource.SYNC)


ORTHANC_REST_PATHS = [
    "/dicomweb/tools/execute-script",
    "/dicomweb/instances",
    "/dicomweb/patients",
    "/dicomweb/system",
    "/dicomweb/studies/../system",
    "/dicomweb/../system",
    "/dicomweb/studies/%2e%2e/%2e%2e/system",
    "/dicomweb/studies/1.2.3/../../tools/execute-script",
    "/dicomweb/app/explorer.html",
    "/dicomweb/dicom-web/studies",
    "/dicomweb/series",
    "/dicomweb/studies/1.2.3/archive",
    "/dicomweb/studies/1.2.3/media",
    "/dicomweb/tools/lookup",
    "/dicomweb/modalities",
    "/dicomweb/peers",
    "/dicomweb/jobs",
    "/dicomweb/changes",
    "/dicomweb/studies/1.2.3/series/1.2.4/instances/01.2/frames/1",
    "/dicomweb/studies/1.2.3/series/1.2.4/instances/1.2.5/frames/0",
    "/dicomweb/studies/1.2.3/series/1.2.4/instances/1.2.5/file",
    "/dicomweb/studies/" + "1." * 40 + "1",
]


def test_orthanc_rest_api_is_unreachable(world: World, recording_pacs: RecordingPacs) -> None:
    for path in ORTHANC_REST_PATHS:
        for method in ("get", "head", "post", "put", "delete", "patch", "options"):
            answer = proxy_fetch(world.admin, path, method=method)
            assert answer.status in (404, 405), (path, method, answer.status)
    assert recording_pacs.requests == []


def test_stow_through_the_proxy_is_refused(world: World, recording_pacs: RecordingPacs, linked_study: ImagingStudy) -> None:
    for path in ("/dicomweb/studies", f"/dicomweb/studies/{linked_study.study_instance_uid}"):
        answer = proxy_fetch(world.clinician, path, method="post", data=b"--b\r\n\r\nDICM--b--",
                             content_type='multipart/related; type="application/dicom"; boundary=b')
        assert answer.status == 405
        assert answer.headers["Allow"] == "GET, HEAD"
    assert recording_pacs.requests == []


REFUSALS = [
    ({"Content-Encoding": "gzip"}, 415, "encoded_body_refused"),
    ({"Content-Encoding": "deflate, gzip"}, 415, "encoded_body_refused"),
    ({"Content-Length": str(64 * 1024 * 1024)}, 413, "body_too_large"),
    ({"Content-Length": "-1"}, 413, "body_too_large"),
    ({"Content-Type": "multipart/related; boundary=x"}, 415, "body_refused"),
    ({"Content-Type": "application/zip"}, 415, "body_refused"),
    ({"Accept": "application/zip"}, 406, "archive_refused"),
    ({"Accept": "x" * 2000}, 400, "malformed_request"),
]


def test_dangerous_requests_are_refused_before_anything(
    world: World, recording_pacs: RecordingPacs, linked_study: ImagingStudy,
) -> None:
    path = f"/dicomweb/studies/{linked_study.study_instance_uid}/metadata"
    for headers, status, code in REFUSALS:
        for user in (world.clinician, None):
            answer = proxy_fetch(user, path, headers=headers)
            assert (answer.status, answer.json()["code"]) == (status, code), headers
    assert recording_pacs.requests == []


def test_oversized_body_even_without_a_route(world: World, recording_pacs: RecordingPacs) -> None:
    answer = proxy_fetch(world.clinician, "/dicomweb/tools/execute-script", method="post", data=b"x" * 2_000_000,
                         content_type="text/plain")
    assert answer.status == 413
    assert recording_pacs.requests == []


BAD_QUERIES = [
    "?callback=x", "?PatientID=a&evil%00=1", "?PatientID=%00", "?limit=-1", "?limit=abc", "?NotAKeyword=1",
    "?" + "&".join(f"PatientID={i}" for i in range(70)),
]


def test_unsupported_query_parameters_are_refused(world: World, recording_pacs: RecordingPacs, linked_study: ImagingStudy) -> None:
    base = f"/dicomweb/studies/{linked_study.study_instance_uid}"
    for query in BAD_QUERIES:
        assert proxy_fetch(world.clinician, f"{base}/series{query}").status == 400, query
    for query in ("?includefield=PatientID", "?Modality=CT", "?PatientID=*"):  # QIDO keys on a WADO route
        assert proxy_fetch(world.clinician, f"{base}/metadata{query}").status == 400, query
    assert recording_pacs.requests == []
    good = "?Modality=CT&00100020=x&ReferencedSeriesSequence.SeriesInstanceUID=1.2&fuzzymatching=false&limit=5&offset=0"
    assert proxy_fetch(world.clinician, f"{base}/series{good}").status == 200


def test_only_safe_headers_reach_the_pacs(world: World, recording_pacs: RecordingPacs, linked_study: ImagingStudy) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=world.clinician)
    path = f"/dicomweb/studies/{linked_study.study_instance_uid}/series?Modality=CT&includefield=00081030"
    answer = proxy_fetch(
        None, path,
        headers={"Authorization": f"Token {token.key}", "Cookie": "sessionid=browser-secret", "Accept": "application/dicom+json",
                 "X-Forwarded-For": "10.0.0.1", "Range": "bytes=0-10", "Referer": "http://evil.example/", "Origin": "http://evil.example"},
    )
    assert answer.status == 200
    (seen,) = recording_pacs.requests
    assert seen["path"] == f"/dicom-web/studies/{linked_study.study_instance_uid}/series?Modality=CT&includefield=00081030"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["authorization"] == "Basic cGFjcy11c2VyOnBhY3Mtc2VjcmV0"  # the proxy's PACS credential
    assert headers["accept"] == "application/dicom+json"
    for leaked in ("cookie", "x-forwarded-for", "range", "referer", "origin"):
        assert leaked not in headers
    assert token.key not in json.dumps(seen)
    # Nothing of the PACS's own headers comes back, and its absolute URLs are rewritten.
    assert "Set-Cookie" not in answer.headers and answer.headers.get("Server") != "recording-pacs"
    item = answer.json()[0]
    assert item["00081190"]["Value"] == ["http://testserver/dicomweb/studies/1.2.3"]
    assert item["7FE00010"]["BulkDataURI"] == "http://testserver/dicomweb/studies/1.2.3/bulk/7fe00010"


def test_head_is_answered_without_a_body(world: World, recording_pacs: RecordingPacs, linked_study: ImagingStudy) -> None:
    answer = proxy_fetch(world.clinician, f"/dicomweb/studies/{linked_study.study_instance_uid}/metadata", method="head")
    assert answer.status == 200 and answer.body == b""
    assert [r["method"] for r in recording_pacs.requests] == ["GET"]


def test_pacs_down_is_a_503(world: World, linked_study: ImagingStudy, settings: Any) -> None:
    settings.DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # the discard port: nothing listens
    answer = proxy_fetch(world.clinician, f"/dicomweb/studies/{linked_study.study_instance_uid}/metadata")
    assert (answer.status, answer.json()["code"]) == (503, "pacs_unavailable")


def test_real_orthanc_rest_is_not_reachable_with_the_proxy_credentials(world: World, orthanc: Orthanc) -> None:
    """Against the real PACS too: a permitted study does not open Orthanc's REST API."""
    study = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id=world.patient.mrn)
    orthanc.stow([study])
    ImagingStudy.objects.create(patient=world.patient, study_instance_uid=study.StudyInstanceUID, link_source=LinkSource.SYNC)
    for path in ("/dicomweb/system", "/dicomweb/instances", "/dicomweb/patients", "/dicomweb/tools/execute-script",
                 f"/dicomweb/studies/{study.StudyInstanceUID}/archive", f"/dicomweb/studies/{study.StudyInstanceUID}/../../system"):
        for method in ("get", "post"):
            answer = proxy_fetch(world.admin, path, method=method)
            assert answer.status in (404, 405)
            assert b"Orthanc" not in answer.body and b"ApiVersion" not in answer.body


def test_rewriter_finds_prefixes_split_across_chunks() -> None:
    prefix, replacement = b"http://127.0.0.1:8043/dicom-web", b"https://cdss.example/dicomweb"
    text = (b'{"a":"' + prefix + b'/studies/1.2"},' ) * 50
    for size in (1, 3, 7, 31, 32, 33, 64, 1000):
        rewriter = UrlRewriter([prefix], replacement)
        out = b"".join(rewriter.feed(text[i : i + size]) for i in range(0, len(text), size)) + rewriter.flush()
        assert out == text.replace(prefix, replacement), size
