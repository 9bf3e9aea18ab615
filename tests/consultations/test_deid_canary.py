"""The de-identification canary: identifiers planted in every class of DICOM attribute and in
the record never reach a consultant with a de-identified share, whatever route they ask."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from imaging.dicomweb.proxy import ACCESS_CACHE, _AuditWriter
from imaging.models import ImagingSeries, ImagingStudy, LinkSource
from tests.conftest import client_for
from tests.consultations.conftest import CANARY, Consult, open_consultation
from tests.imaging.conftest import Orthanc, ct_dataset, proxy_fetch

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DICOM_CANARIES = {
    "PatientName": "Canarywhistle^Zebulon",  # PN
    "PatientID": CANARY["mrn"],  # LO
    "PatientBirthDate": "19610314",  # DA
    "PatientAddress": CANARY["address_line"],  # LO
    "PatientTelephoneNumbers": CANARY["phone"],  # SH
    "OtherPatientIDs": "OTHERID-CANARY-1",  # LO
    "AccessionNumber": "ACC-CANARY-2",  # SH
    "StudyID": "SID-CANARY-3",  # SH
    "ReferringPhysicianName": "Referrer^Canary",  # PN
    "InstitutionName": "Canary General Hospital",  # LO
    "StudyDescription": "CT for Zebulon Canarywhistle",  # LO free text
    "ImageComments": "patient Zebulon said hello",  # LT
    "PatientComments": "Canary comments",  # LT
    "AdditionalPatientHistory": "Canary history",  # LT
    "StudyTime": "101112.131415",  # TM
    "DeviceSerialNumber": "SERIAL-CANARY-4",  # LO
}
PLANTED = [*DICOM_CANARIES.values(), "Zebulon", "Canarywhistle", "1961", "PRIVATE-CANARY-5", "SEQUENCE-CANARY-6"]


def _canary_dataset(study: str, series: str, n: int) -> Dataset:
    ds = ct_dataset(study=study, series=series, patient_id=CANARY["mrn"], instance_number=n + 1, rows=16, columns=16)
    for keyword, value in DICOM_CANARIES.items():
        setattr(ds, keyword, value)
    nested = Dataset()
    nested.PatientName = "Sequence^SEQUENCE-CANARY-6"
    nested.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedPatientSequence = Sequence([nested])
    ds.add_new(0x00990010, "LO", "CANARY PRIVATE CREATOR")
    ds.add_new(0x00991001, "LO", "PRIVATE-CANARY-5")
    return ds


@pytest.fixture
def canary_study(consult: Consult) -> Iterator[tuple[str, str, list[str]]]:
    ACCESS_CACHE.clear()
    pacs = Orthanc()
    study, series = generate_uid(), generate_uid()
    datasets = [_canary_dataset(study, series, n) for n in range(2)]
    pacs.stow(datasets)
    linked = ImagingStudy.objects.create(patient=consult.patient, study_instance_uid=study, link_source=LinkSource.UPLOAD,
                                         dicom_patient_id=CANARY["mrn"], mismatch_confirmed=True)
    ImagingSeries.objects.create(study=linked, series_instance_uid=series, modality="CT")
    try:
        yield study, series, [str(d.SOPInstanceUID) for d in datasets]
    finally:
        pacs.cleanup()
        ACCESS_CACHE.clear()


def test_dicom_canaries_never_reach_a_deidentified_consultant(
    consult: Consult, canary_study: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_AuditWriter, "delay_s", 3600.0)
    real_study, real_series, real_sops = canary_study
    data = open_consultation(consult)
    consultant = consult.consultant
    room = client_for(consultant).get(f"/api/v1/consultations/{data['id']}/room/").json()
    series_pk = ImagingSeries.objects.get(series_instance_uid=real_series).pk
    shown = next(s for s in room["series"] if s["id"] == series_pk)
    study, series = shown["study_uid"], shown["series_uid"]
    instances = proxy_fetch(consultant, f"/dicomweb/studies/{study}/series/{series}/instances")
    assert instances.status == 200, instances.body[:300]
    sop = instances.json()[0]["00080018"]["Value"][0]
    assert sop not in real_sops and sop.startswith("2.25.")

    bodies: dict[str, bytes] = {"instances": instances.body}
    dicom = 'multipart/related; type="application/dicom"'
    routes = {
        "qido-studies": (f"/dicomweb/studies?StudyInstanceUID={study}", None),
        "qido-study-series": (f"/dicomweb/studies/{study}/series", None),
        "qido-study-instances": (f"/dicomweb/studies/{study}/instances", None),
        "study-metadata": (f"/dicomweb/studies/{study}/metadata", None),
        "series-metadata": (f"/dicomweb/studies/{study}/series/{series}/metadata", None),
        "instance-metadata": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/metadata", None),
        "instance": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}", dicom),
        "series": (f"/dicomweb/studies/{study}/series/{series}", dicom),
        "study": (f"/dicomweb/studies/{study}", dicom),
        "frames": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/1",
                   'multipart/related; type="application/octet-stream"; transfer-syntax=*'),
        "rendered": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/rendered", "image/jpeg"),
        "rendered-window": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/rendered?window=-500,1500,linear",
                            "image/jpeg"),
        "bulk": (f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/bulk/7fe00010", None),
    }
    for name, (path, accept) in routes.items():
        answer = proxy_fetch(consultant, path, headers={"Accept": accept} if accept else None)
        assert answer.status == 200, (name, answer.status, answer.body[:300])
        bodies[name] = answer.body
    # The de-identified metadata still says what a viewer needs, under pseudonymous UIDs.
    meta = json.loads(bodies["instance-metadata"])[0]
    assert meta["00080060"]["Value"] == ["CT"] and meta["00280010"]["Value"] == [16]
    assert meta["0020000D"]["Value"] == [study] and meta["00100010"]["Value"][0]["Alphabetic"] == room_pseudonym(data)
    # The instance itself parses and is de-identified.
    assert b"DICM" in bodies["instance"]

    leaks = [(name, value) for name, body in bodies.items()
             for value in (*PLANTED, real_study, real_series, *real_sops) if value.encode() in body]
    assert leaks == []
    # The real UIDs are refused to this consultant, like a study that does not exist.
    assert proxy_fetch(consultant, f"/dicomweb/studies/{real_study}/series").status == 404
    # Other metadata bulk data (anything but pixel data) never leaves.
    assert proxy_fetch(consultant, f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/bulk/00100010").status == 404
    # The clinician who owns the record still sees it as stored.
    own = proxy_fetch(consult.clinician, f"/dicomweb/studies/{real_study}/series/{real_series}/instances/{real_sops[0]}/metadata")
    assert own.status == 200 and CANARY["mrn"].encode() in own.body


def room_pseudonym(data: dict[str, Any]) -> str:
    from patients.models import ShareGrant

    return ShareGrant.objects.get(consultation__pk=data["id"]).pseudonym


def test_expired_share_gets_404_from_the_proxy(consult: Consult, canary_study: tuple[str, str, list[str]]) -> None:
    from django.utils import timezone

    from patients.models import ShareGrant

    data = open_consultation(consult)
    studies = client_for(consult.consultant).get(f"/api/v1/patients/{consult.patient.pk}/imaging/studies/").json()
    study = next(s["study_instance_uid"] for s in studies if s["series"])
    assert proxy_fetch(consult.consultant, f"/dicomweb/studies/{study}/series").status == 200
    ShareGrant.objects.filter(pk=ShareGrant.objects.get(consultation__pk=data["id"]).pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert proxy_fetch(consult.consultant, f"/dicomweb/studies/{study}/series").status == 404


def test_pixels_of_a_series_that_may_carry_burned_in_text_are_withheld(
    consult: Consult, canary_study: tuple[str, str, list[str]],
) -> None:
    from imaging.deid import uid_pseudonym

    real_study, real_series, real_sops = canary_study
    ImagingSeries.objects.filter(series_instance_uid=real_series).update(modality="SC")
    data = open_consultation(consult)
    pseudonym = room_pseudonym(data)
    study, series, sop = (uid_pseudonym(uid, pseudonym=pseudonym) for uid in (real_study, real_series, real_sops[0]))
    base = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    for path, accept in ((f"{base}/frames/1", 'multipart/related; type="application/octet-stream"; transfer-syntax=*'),
                         (f"{base}/rendered", "image/jpeg")):
        answer = proxy_fetch(consult.consultant, path, headers={"Accept": accept})
        assert answer.status == 403, (path, answer.status, answer.body[:200])
        assert json.loads(answer.body)["code"] == "burned_in_withheld"
    # The clinician who owns the record still gets the pixels.
    own = proxy_fetch(consult.clinician, f"/dicomweb/studies/{real_study}/series/{real_series}/instances/{real_sops[0]}/rendered",
                      headers={"Accept": "image/jpeg"})
    assert own.status == 200
