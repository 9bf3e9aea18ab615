"""Uploading DICOM through the API: validated file by file, sent by STOW-RS per whole study.

Every rejection case checks the real PACS afterwards: nothing of the refused study is in it.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.uid import generate_uid

from cdss.audit.models import AuditEvent
from imaging.models import ImagingStudy, LinkSource
from tests.conftest import World, client_for
from tests.imaging.conftest import BAD_KINDS, Orthanc, bad_file, ct_dataset, dicom_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def upload_url(world: World) -> str:
    return f"/api/v1/patients/{world.patient.pk}/imaging/upload/"


def files(*items: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type="application/dicom") for name, data in items]


def zipped(*items: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def post(world: World, uploads: list[SimpleUploadedFile], user: Any = None, **extra: Any) -> Any:
    return client_for(user or world.clinician).post(upload_url(world), {"files": uploads, **extra}, format="multipart")


def good_study(world: World, n: int = 2, patient_id: str | None = None) -> tuple[str, str, list[bytes]]:
    study, series = generate_uid(), generate_uid()
    data = [dicom_bytes(ct_dataset(study=study, series=series, patient_id=patient_id or world.patient.mrn, instance_number=i + 1))
            for i in range(n)]
    return study, series, data


def test_a_good_upload_is_stored_and_linked(world: World, orthanc: Orthanc) -> None:
    study, series, data = good_study(world, 3)
    orthanc.created.add(study)
    response = post(world, files(*((f"slice{i}.dcm", d) for i, d in enumerate(data))))
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert body["stored"] == 3 and body["rejected"] == 0
    assert {f["status"] for f in body["files"]} == {"stored"}
    assert orthanc.instance_count(study) == 3
    linked = ImagingStudy.objects.get(study_instance_uid=study)
    assert linked.patient == world.patient and linked.link_source == LinkSource.UPLOAD and not linked.mismatch_confirmed
    assert linked.number_of_instances == 3 and linked.modalities == "CT" and str(linked.study_date) == "2025-01-02"
    (one_series,) = linked.series.all()
    assert one_series.series_instance_uid == series and one_series.number_of_instances == 3
    assert one_series.body_part == "ABDOMEN" and one_series.modality == "CT"
    assert body["studies"] == [{"study_instance_uid": study, "status": "stored", "files": 3,
                                "imaging_study_id": linked.pk, "mismatch_confirmed": False}]
    assert AuditEvent.objects.filter(object_type="imaging_study", action="create", patient_id=world.patient.pk).count() == 1
    upload_entry = AuditEvent.objects.get(object_type="imaging_upload")
    assert upload_entry.detail["stored"] == 3 and world.patient.mrn not in str(upload_entry.detail)
    listed = client_for(world.consultant).get(f"/api/v1/patients/{world.patient.pk}/imaging/studies/").json()
    assert [s["study_instance_uid"] for s in listed] == [study]
    assert listed[0]["series"][0]["number_of_instances"] == 3


@pytest.mark.parametrize("kind", list(BAD_KINDS))
def test_a_bad_file_keeps_its_whole_study_out(world: World, orthanc: Orthanc, kind: str) -> None:
    study, series, data = good_study(world, 2)
    orthanc.created.add(study)
    bad = bad_file(kind, study=study, series=series, patient_id=world.patient.mrn)
    response = post(world, files(("good1.dcm", data[0]), ("bad.dcm", bad), ("good2.dcm", data[1])))
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["code"] == "upload_rejected"
    results = {f["name"]: f for f in body["detail"]["files"]}
    assert results["bad.dcm"]["status"] == "rejected" and results["bad.dcm"]["code"] == BAD_KINDS[kind]
    assert results["good1.dcm"]["status"] == results["good2.dcm"]["status"] == "not_sent"
    assert results["good1.dcm"]["code"] in ("study_incomplete", "upload_incomplete")
    if kind == "patient_mismatch":
        # Both identities are shown to the user, so they can decide to relink.
        assert results["bad.dcm"]["detail"] == {"dicom_patient_id": "SOMEONE-ELSE", "mrn": world.patient.mrn, "where": "file"}
    assert orthanc.study_records(study) == []  # nothing partial in the PACS
    assert not ImagingStudy.objects.filter(study_instance_uid=study).exists()


def test_zip_with_a_bad_member(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 3)
    orthanc.created.add(study)
    archive = zipped(("scan/1.dcm", data[0]), ("scan/2.dcm", data[1]), ("scan/notes.txt", b"not an image"),
                     ("scan/3.dcm", data[2]), ("__MACOSX/._1.dcm", b"junk"))
    response = post(world, files(("scan.zip", archive)))
    assert response.status_code == 400
    results = {f["name"]: f for f in response.json()["detail"]["files"]}
    assert results["scan.zip/scan/notes.txt"]["code"] == "not_dicom"
    assert results["scan.zip/__MACOSX/._1.dcm"]["status"] == "skipped"
    assert {results[f"scan.zip/scan/{i}.dcm"]["code"] for i in (1, 2, 3)} == {"upload_incomplete"}
    assert orthanc.study_records(study) == []


def test_a_good_zip_and_a_nested_or_broken_one(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 2)
    orthanc.created.add(study)
    response = post(world, files(("scan.zip", zipped(("a.dcm", data[0]), ("b.dcm", data[1])))))
    assert response.status_code == 201 and orthanc.instance_count(study) == 2
    other, _series, more = good_study(world, 1)
    orthanc.created.add(other)
    nested = zipped(("inner.zip", zipped(("c.dcm", more[0]))))
    response = post(world, files(("nested.zip", nested)))
    assert response.status_code == 400
    assert response.json()["detail"]["files"][0]["code"] == "nested_archive"
    broken = zipped(("c.dcm", more[0]))
    response = post(world, files(("broken.zip", broken[: len(broken) // 2])))
    assert response.status_code == 400
    assert response.json()["detail"]["files"][0]["code"] in ("archive_invalid", "not_dicom")
    assert orthanc.study_records(other) == []


def test_only_the_failing_study_is_held_back(world: World, orthanc: Orthanc) -> None:
    ok_study, _s, ok = good_study(world, 2)
    bad_study, bad_series, bad = good_study(world, 1)
    orthanc.created.update({ok_study, bad_study})
    broken = bad_file("missing_pixel_data", study=bad_study, series=bad_series, patient_id=world.patient.mrn)
    response = post(world, files(("ok1.dcm", ok[0]), ("ok2.dcm", ok[1]), ("bad1.dcm", bad[0]), ("bad2.dcm", broken)))
    assert response.status_code == 202, response.content[:300]
    body = response.json()
    status = {s["study_instance_uid"]: s["status"] for s in body["studies"]}
    assert status == {ok_study: "stored", bad_study: "rejected"}
    assert orthanc.instance_count(ok_study) == 2 and orthanc.study_records(bad_study) == []


def test_relink_needs_the_flag_and_is_recorded(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 2, patient_id="OUTSIDE-123")
    orthanc.created.add(study)
    refused = post(world, files(("a.dcm", data[0]), ("b.dcm", data[1])))
    assert refused.status_code == 400
    assert {f["code"] for f in refused.json()["detail"]["files"]} == {"patient_mismatch"}
    assert orthanc.study_records(study) == []
    accepted = post(world, files(("a.dcm", data[0]), ("b.dcm", data[1])), confirm_relink="true")
    assert accepted.status_code == 201
    linked = ImagingStudy.objects.get(study_instance_uid=study)
    assert linked.mismatch_confirmed and linked.dicom_patient_id == "OUTSIDE-123"
    assert accepted.json()["studies"][0]["mismatch_confirmed"] is True
    created = AuditEvent.objects.get(object_type="imaging_study", action="create")
    assert created.detail == {"source": "upload", "mismatch_confirmed": True}


def test_a_study_of_another_patient_cannot_be_claimed(world: World, orthanc: Orthanc) -> None:
    """Uploading a file with another patient's StudyInstanceUID must not open that study."""
    study, series, _data = good_study(world, 1, patient_id=world.other_patient.mrn)
    orthanc.stow([ct_dataset(study=study, series=series, patient_id=world.other_patient.mrn, instance_number=5)])
    ImagingStudy.objects.create(patient=world.other_patient, study_instance_uid=study, link_source=LinkSource.SYNC)
    forged = dicom_bytes(ct_dataset(study=study, series=generate_uid(), patient_id=world.patient.mrn))
    for confirm in ("false", "true"):
        response = post(world, files(("forged.dcm", forged)), confirm_relink=confirm)
        assert response.status_code == 400
        assert response.json()["detail"]["files"][0]["code"] == "study_conflict"
    assert orthanc.instance_count(study) == 1
    # Not linked to another record, but filed in the PACS under another patient's MRN: refused too.
    ImagingStudy.objects.filter(study_instance_uid=study).delete()
    response = post(world, files(("forged.dcm", forged)), confirm_relink="true")
    assert response.json()["detail"]["files"][0]["code"] == "study_conflict"
    assert orthanc.instance_count(study) == 1


def test_duplicates_and_dicomdir(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 1)
    orthanc.created.add(study)
    response = post(world, files(("a.dcm", data[0]), ("copy.dcm", data[0])))
    assert response.status_code == 400
    codes = {f["name"]: f["code"] for f in response.json()["detail"]["files"]}
    assert codes == {"a.dcm": "study_incomplete", "copy.dcm": "duplicate_instance"}


def test_who_may_upload(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 1)
    orthanc.created.add(study)
    for role, status in (("consultant", 403), ("patient_self", 403), ("other_clinician", 404), ("patient_other", 404)):
        response = post(world, files(("a.dcm", data[0])), user=world.users()[role])
        assert response.status_code == status, role
    assert orthanc.study_records(study) == []
    assert client_for(None).post(upload_url(world), {"files": files(("a.dcm", data[0]))}, format="multipart").status_code == 401


def test_declared_size_limit(world: World, settings: Any) -> None:
    settings.IMAGING_UPLOAD_MAX_BYTES = 1000
    _study, _series, data = good_study(world, 1)
    response = post(world, files(("a.dcm", data[0] * 2)))
    assert (response.status_code, response.json()["code"]) == (413, "upload_too_large")


def test_zip_bomb_is_stopped_by_what_is_really_extracted(world: World, settings: Any) -> None:
    settings.IMAGING_UPLOAD_MAX_EXPANDED_BYTES = 10 * 1024 * 1024
    bomb = zipped(("zeros.dcm", b"\0" * (50 * 1024 * 1024)))
    assert len(bomb) < 100 * 1024
    response = post(world, files(("bomb.zip", bomb)))
    assert (response.status_code, response.json()["code"]) == (413, "upload_too_large")


def test_uploads_go_to_disk_not_memory(world: World, orthanc: Orthanc) -> None:
    """The view asks Django for temporary files: each upload is a file on disk for the service."""
    from imaging import services

    seen: list[str] = []
    original = services.imaging_upload

    def spy(**kwargs: Any) -> Any:
        seen.extend(str(source.path) for source in kwargs["sources"])
        return original(**kwargs)

    study, _series, data = good_study(world, 1)
    orthanc.created.add(study)
    import imaging.api.views as views

    views_original = views.imaging_upload
    views.imaging_upload = spy
    try:
        assert post(world, files(("a.dcm", data[0]))).status_code == 201
    finally:
        views.imaging_upload = views_original
    assert seen and all(path.endswith(".upload.dcm") or ".upload" in path for path in seen)
