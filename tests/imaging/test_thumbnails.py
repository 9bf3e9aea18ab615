"""Thumbnails through the proxy when the PACS has none (Orthanc 1.10 answers 404 to /thumbnail):
made from /rendered of the right instance, scaled to the viewport, access-checked and audited."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid
from rest_framework.authtoken.models import Token

from cdss.audit.models import AuditEvent, AuditOutcome
from imaging.dicomweb import thumbnails
from imaging.dicomweb.asgi import DicomwebFastLane
from imaging.dicomweb.thumbnails import (
    ThumbnailNotFound,
    instance_pick,
    rendered_accept,
    series_pick,
    thumbnail_request,
)
from imaging.dicomweb.upstream import UpstreamResponse
from imaging.models import ImagingStudy, LinkSource
from tests.conftest import World
from tests.imaging.conftest import Orthanc, StoredStudy, ct_dataset, proxy_fetch, study_store
from tests.imaging.test_fast_lane import Inner, call

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _native_unknown() -> None:
    thumbnails.thumbnail_native_reset()


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _orthanc_rendered(orthanc: Orthanc, path: str) -> bytes:
    """What Orthanc renders itself, scaled as the proxy asks (literal comma: see thumbnails.py)."""
    from django.conf import settings

    response = orthanc.session.get(f"{settings.DICOMWEB_URL}/{path}?viewport=128,128", headers={"Accept": "image/jpeg"}, timeout=30)
    assert response.status_code == 200, response.status_code
    return response.content


def _graded_series(orthanc: Orthanc, world: World, count: int = 5) -> StoredStudy:
    """A CT series whose slices differ (a bright band in a place of its own), stored out of order."""
    stored = study_store(orthanc, world.patient, instances=0)
    datasets = []
    for n in reversed(range(count)):
        ds = ct_dataset(study=stored.study_uid, series=stored.series_uid, patient_id=world.patient.mrn,
                        rows=256, columns=256, instance_number=n + 1)
        pixels = np.zeros((256, 256), dtype=np.uint16)
        pixels[:, 40 * n : 40 * n + 40] = 2000
        ds.PixelData = pixels.tobytes()
        datasets.append(ds)
    orthanc.stow(datasets)
    stored.datasets = datasets
    stored.sop_uids = [str(d.SOPInstanceUID) for d in datasets]
    return stored


def test_series_thumbnail_is_the_middle_slice(world: World, orthanc: Orthanc) -> None:
    stored = _graded_series(orthanc, world)
    middle = next(d for d in stored.datasets if d.InstanceNumber == 3)
    answer = proxy_fetch(world.clinician, f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/thumbnail",
                         headers={"Accept": "image/jpeg"})
    assert answer.status == 200, answer.body[:200]
    assert answer.headers["Content-Type"] == "image/jpeg" and answer.headers["Cache-Control"] == "no-store, private"
    image = _image(answer.body)
    assert image.format == "JPEG" and max(image.size) <= 128
    rendered = {d.InstanceNumber: _orthanc_rendered(orthanc, f"studies/{stored.study_uid}/series/{stored.series_uid}/instances/{d.SOPInstanceUID}/rendered")
                for d in stored.datasets}
    assert len(set(rendered.values())) == len(rendered)  # every slice looks different
    assert answer.body == rendered[middle.InstanceNumber]
    entry = AuditEvent.objects.filter(object_type="imaging_study", detail__route="series-thumbnail").get()
    assert (entry.actor_id, entry.patient_id, entry.outcome) == (world.clinician.pk, world.patient.pk, AuditOutcome.SUCCESS)


def test_study_thumbnail_skips_series_without_images(world: World, orthanc: Orthanc) -> None:
    stored = _graded_series(orthanc, world, count=3)
    report = Dataset()
    report.file_meta = FileMetaDataset()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    report.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    report.SOPClassUID, report.SOPInstanceUID = BasicTextSRStorage, report.file_meta.MediaStorageSOPInstanceUID
    report.StudyInstanceUID, report.SeriesInstanceUID = stored.study_uid, generate_uid()
    report.PatientID, report.Modality, report.SeriesNumber, report.InstanceNumber = world.patient.mrn, "SR", 0, 1
    orthanc.stow([report])
    answer = proxy_fetch(world.clinician, f"/dicomweb/studies/{stored.study_uid}/thumbnail", headers={"Accept": "image/*"})
    assert answer.status == 200, answer.body[:200]
    middle = next(d for d in stored.datasets if d.InstanceNumber == 2)
    assert answer.body == _orthanc_rendered(
        orthanc, f"studies/{stored.study_uid}/series/{stored.series_uid}/instances/{middle.SOPInstanceUID}/rendered")


def test_instance_and_multiframe_thumbnails(world: World, orthanc: Orthanc) -> None:
    stored = study_store(orthanc, world.patient, instances=1, rows=200, columns=100, frames=3)
    sop = stored.sop_uids[0]
    base = f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}"
    instance = proxy_fetch(world.clinician, f"{base}/instances/{sop}/thumbnail?viewport=64,64", headers={"Accept": "image/png"})
    assert instance.status == 200 and instance.headers["Content-Type"] == "image/png"
    assert max(_image(instance.body).size) <= 64
    series = proxy_fetch(world.clinician, f"{base}/thumbnail")
    assert series.status == 200 and series.headers["Content-Type"] == "image/jpeg"
    # A multi-frame series shows its middle frame.
    assert series.body == _orthanc_rendered(orthanc, f"studies/{stored.study_uid}/series/{stored.series_uid}/instances/{sop}/frames/2/rendered")


def test_forbidden_and_missing_thumbnails_are_404(world: World, orthanc: Orthanc) -> None:
    stored = study_store(orthanc, world.patient, instances=1)
    base = f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}"
    for path in (f"/dicomweb/studies/{stored.study_uid}/thumbnail", f"{base}/thumbnail", f"{base}/instances/{stored.sop_uids[0]}/thumbnail"):
        denied = proxy_fetch(world.other_clinician, path, headers={"Accept": "image/jpeg"})
        assert denied.status == 404 and denied.json()["code"] == "not_found"
        assert proxy_fetch(None, path).status == 401
    assert AuditEvent.objects.filter(actor_id=world.other_clinician.pk, outcome=AuditOutcome.DENIED).count() == 3
    # Allowed study, but no such series or instance in it.
    assert proxy_fetch(world.clinician, f"/dicomweb/studies/{stored.study_uid}/series/{generate_uid()}/thumbnail").status == 404
    assert proxy_fetch(world.clinician, f"{base}/instances/{generate_uid()}/thumbnail").status == 404
    # A linked study the PACS does not hold.
    ghost = ImagingStudy.objects.create(patient=world.patient, study_instance_uid=generate_uid(), link_source=LinkSource.SYNC)
    assert proxy_fetch(world.clinician, f"/dicomweb/studies/{ghost.study_instance_uid}/thumbnail").status == 404


def test_thumbnails_through_the_fast_lane(world: World, orthanc: Orthanc) -> None:
    stored = _graded_series(orthanc, world, count=3)
    token = Token.objects.create(user=world.clinician).key
    auth = {"Authorization": f"Token {token}", "Accept": "image/jpeg"}
    path = f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/thumbnail"
    assert proxy_fetch(None, path, headers=auth).status == 200  # Django allows and remembers
    before = AuditEvent.objects.filter(detail__route="series-thumbnail").count()
    inner = Inner()
    status, headers, body = call(DicomwebFastLane(inner), path, headers=auth)
    assert status == 200 and inner.paths == [] and headers["content-type"] == "image/jpeg"
    assert max(_image(body).size) <= 128
    assert headers["content-length"] == str(len(body)) and headers["x-content-type-options"] == "nosniff"
    assert AuditEvent.objects.filter(detail__route="series-thumbnail").count() == before + 1


# --- the choices, without a PACS -------------------------------------------------------------------

def _item(**tags: Any) -> dict[str, Any]:
    return {tag: {"Value": [value]} for tag, value in tags.items()}


def test_choices() -> None:
    u1, u2, u3 = (generate_uid() for _ in range(3))
    assert series_pick([_item(**{"0020000E": u1, "00080060": "SEG", "00200011": 1}),
                        _item(**{"0020000E": u2, "00080060": "CT", "00200011": 3}),
                        _item(**{"0020000E": u3, "00080060": "CT", "00200011": 2})]) == u3
    with pytest.raises(ThumbnailNotFound):
        series_pick([_item(**{"0020000E": u1, "00080060": "SR"}), _item(**{"0020000E": "1.2.x", "00080060": "CT"})])
    assert instance_pick([_item(**{"00080018": u, "00200013": n}) for u, n in ((u1, 3), (u2, 1), (u3, 2))]) == (u3, 1)
    assert instance_pick([_item(**{"00080018": u1, "00280008": "5"})]) == (u1, 3)
    with pytest.raises(ThumbnailNotFound):
        instance_pick([])
    assert rendered_accept("") == rendered_accept("image/avif,image/webp,image/*,*/*;q=0.8") == "image/jpeg"
    assert rendered_accept("image/png") == "image/png"
    assert rendered_accept("application/pdf") == "application/pdf"


def test_native_thumbnails_are_used_and_a_missing_one_is_not_asked_again() -> None:
    asked: list[str] = []

    def answer(status: int) -> UpstreamResponse:
        return UpstreamResponse(status=status, headers={}, _connection=None, _pool=None, _read_timeout=1.0)  # type: ignore[arg-type]

    def fetcher(native: int) -> Any:
        async def fetch(*, accept: str, route: str, path: str, params: list[tuple[str, str]]) -> UpstreamResponse:
            asked.append(path + "?" + "&".join(f"{k}={v}" for k, v in params))
            return answer(native if path.endswith("/thumbnail") else 200)
        return fetch

    parts = {"study": "1.2.3", "series": "1.2.4", "instance": "1.2.5"}

    def run(native: int, base_url: str) -> int:
        async def go() -> int:
            response = await thumbnail_request(fetcher(native), base_url=base_url, accept="image/jpeg", route="instance-thumbnail",
                                               parts=parts, params=[], max_qido_bytes=1000)
            return response.status
        return async_to_sync(go)()

    base = "studies/1.2.3/series/1.2.4/instances/1.2.5"
    assert run(200, "http://pacs-a") == 200 and asked == [f"{base}/thumbnail?"]
    asked.clear()
    assert run(404, "http://pacs-b") == 200 and asked == [f"{base}/thumbnail?", f"{base}/rendered?viewport=128,128"]
    asked.clear()
    assert run(404, "http://pacs-b") == 200 and asked == [f"{base}/rendered?viewport=128,128"]
