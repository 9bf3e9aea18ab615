"""Imaging test helpers: synthetic DICOM (pydicom, generated here), the real test Orthanc, the proxy.

Every test stores studies with fresh UIDs and deletes them from Orthanc afterwards through
Orthanc's own REST API, so runs never see each other's data.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydicom
import pytest
import requests
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from cdss.accounts.models import User
from imaging.dicomweb.proxy import ACCESS_CACHE, _AuditWriter, dicomweb_proxy_close
from imaging.models import ImagingStudy, LinkSource
from patients.models import Patient

PACS_ROOT = settings.DICOMWEB_URL.rsplit("/dicom-web", 1)[0]


def pacs_auth() -> tuple[str, str]:
    assert settings.DICOMWEB_USERNAME, "the test Orthanc's credentials are missing (scripts/orthanc.py start --name test)"
    return settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD or ""


def ct_dataset(
    *, study: str, series: str, patient_id: str, rows: int = 16, columns: int = 16, frames: int = 1,
    instance_number: int = 1, sop: str | None = None,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop) if sop else generate_uid()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Test"
    ds.Modality = "CT"
    ds.BodyPartExamined = "ABDOMEN"
    ds.StudyDate = "20250102"
    ds.StudyDescription = "Synthetic CT"
    ds.SeriesDescription = "Synthetic series"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [0.0, 0.0, float(instance_number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    if frames > 1:
        ds.NumberOfFrames = frames
    rng = np.random.default_rng(instance_number)
    ds.PixelData = rng.integers(0, 4000, size=(frames, rows, columns), dtype=np.uint16).tobytes()
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Orthanc:
    """The test PACS, spoken to directly (DICOMweb and Orthanc REST) to set up and check."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.auth = pacs_auth()
        self.session.trust_env = False
        self.created: set[str] = set()

    def stow(self, datasets: list[Dataset]) -> None:
        boundary = "cdss-test-boundary"
        body = b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + dicom_bytes(ds) + b"\r\n" for ds in datasets
        ) + f"--{boundary}--\r\n".encode()
        response = self.session.post(
            f"{settings.DICOMWEB_URL}/studies", data=body, timeout=120,
            headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                     "Accept": "application/dicom+json"},
        )
        response.raise_for_status()
        self.created.update(str(ds.StudyInstanceUID) for ds in datasets)

    def study_records(self, study_uid: str) -> list[dict[str, Any]]:
        response = self.session.get(
            f"{settings.DICOMWEB_URL}/studies", params={"StudyInstanceUID": study_uid},
            headers={"Accept": "application/dicom+json"}, timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content.strip() else []

    def instance_count(self, study_uid: str) -> int:
        ids = self.session.post(f"{PACS_ROOT}/tools/lookup", data=study_uid, timeout=30).json()
        total = 0
        for entry in ids:
            if entry.get("Type") == "Study":
                total += len(self.session.get(f"{PACS_ROOT}/studies/{entry['ID']}/instances", timeout=30).json())
        return total

    def delete_study(self, study_uid: str) -> None:
        for entry in self.session.post(f"{PACS_ROOT}/tools/lookup", data=study_uid, timeout=30).json():
            if entry.get("Type") == "Study":
                self.session.delete(f"{PACS_ROOT}/studies/{entry['ID']}", timeout=60)

    def cleanup(self) -> None:
        for uid in sorted(self.created):
            self.delete_study(uid)
        self.created.clear()


@pytest.fixture(autouse=True)
def _proxy_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no remembered access decisions; audit entries are written when the
    test's request finishes (``dicomweb_proxy_close``), inside the test's transaction."""
    monkeypatch.setattr(_AuditWriter, "delay_s", 3600.0)
    ACCESS_CACHE.clear()
    yield
    ACCESS_CACHE.clear()


@pytest.fixture
def orthanc() -> Iterator[Orthanc]:
    pacs = Orthanc()
    try:
        yield pacs
    finally:
        pacs.cleanup()


@dataclass
class StoredStudy:
    study_uid: str
    series_uid: str
    sop_uids: list[str]
    imaging_study: ImagingStudy
    datasets: list[Dataset] = field(repr=False, default_factory=list)


def study_store(
    orthanc: Orthanc, patient: Patient, *, instances: int = 2, rows: int = 16, columns: int = 16, frames: int = 1,
    link: bool = True,
) -> StoredStudy:
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = [
        ct_dataset(study=study_uid, series=series_uid, patient_id=patient.mrn, rows=rows, columns=columns,
                   frames=frames, instance_number=n + 1)
        for n in range(instances)
    ]
    orthanc.stow(datasets)
    imaging_study = ImagingStudy.objects.create(
        patient=patient, study_instance_uid=study_uid, link_source=LinkSource.UPLOAD, dicom_patient_id=patient.mrn,
    ) if link else ImagingStudy(study_instance_uid=study_uid)
    return StoredStudy(study_uid, series_uid, [str(d.SOPInstanceUID) for d in datasets], imaging_study, datasets)


@dataclass
class ProxyAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def proxy_fetch(
    user: User | None, path: str, *, method: str = "get", headers: dict[str, str] | None = None,
    on_chunk: Callable[[bytes], None] | None = None, **extra: Any,
) -> ProxyAnswer:
    """Call the proxy in-process through Django's ASGI handler and read the streamed body.

    async_to_sync from the test's thread lets the view's database work run on this thread, in
    the test's transaction; the proxy's PACS connections are closed before the loop ends.
    """

    async def go() -> ProxyAnswer:
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        try:
            response = await getattr(client, method)(path, headers=headers or {}, **extra)
            body = bytearray()
            if getattr(response, "streaming", False):
                async for chunk in response.streaming_content:
                    if on_chunk is not None:
                        on_chunk(chunk)
                    else:
                        body += chunk
            else:
                body += response.content
            return ProxyAnswer(response.status_code, {k: v for k, v in response.headers.items()}, bytes(body))
        finally:
            await dicomweb_proxy_close()

    return async_to_sync(go)()


def pydicom_read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


# --- a corpus of bad files (each made here, from a good one) -----------------------------------

def _patch_length(data: bytes, tag: bytes, vr: bytes, new_length: int, *, long_form: bool) -> bytes:
    index = data.index(tag + vr)
    out = bytearray(data)
    if long_form:
        out[index + 8 : index + 12] = new_length.to_bytes(4, "little")
    else:
        out[index + 6 : index + 8] = new_length.to_bytes(2, "little")
    return bytes(out)


def bad_file(kind: str, *, study: str, series: str, patient_id: str) -> bytes:
    """A file of the given study that the upload must refuse, with the code it must give."""
    ds = ct_dataset(study=study, series=series, patient_id=patient_id, instance_number=99)
    good = dicom_bytes(ds)
    if kind == "not_dicom":
        return b"%PDF-1.4 this is not a DICOM file\n" * 20
    if kind == "truncated":
        return good[: len(good) - 100]
    if kind == "invalid_length":  # PixelData claims 2 GiB
        return _patch_length(good, b"\xe0\x7f\x10\x00", b"OW", 0x7FFFFFF0, long_form=True)
    if kind == "invalid_length_short":  # PatientName claims 65,520 bytes in a small file
        return _patch_length(good, b"\x10\x00\x10\x00", b"PN", 0xFFF0, long_form=False)
    if kind == "missing_uid":
        del ds.SeriesInstanceUID
        return dicom_bytes(ds)
    if kind == "invalid_uid":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about the bad UID we make on purpose
            ds.SOPInstanceUID = "1.2.abc"
            return dicom_bytes(ds)
    if kind == "missing_pixel_data":
        del ds.PixelData
        return dicom_bytes(ds)
    if kind == "patient_mismatch":
        ds.PatientID = "SOMEONE-ELSE"
        return dicom_bytes(ds)
    raise ValueError(kind)


BAD_KINDS = {
    "not_dicom": "not_dicom",
    "truncated": "truncated",
    "invalid_length": "invalid_length",
    "invalid_length_short": "invalid_length",
    "missing_uid": "missing_uid",
    "invalid_uid": "invalid_uid",
    "missing_pixel_data": "missing_pixel_data",
    "patient_mismatch": "patient_mismatch",
}
