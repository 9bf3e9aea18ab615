"""Linking studies from the PACS by QIDO-RS: PatientID against MRN, mismatches reported, never silent."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from pydicom.uid import generate_uid

from imaging.models import ImagingStudy, LinkSource
from imaging.services import imaging_study_sync
from tests.conftest import World, client_for
from tests.imaging.conftest import Orthanc, ct_dataset

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def unique_mrns(world: World) -> None:
    """MRNs no other test's leftovers in the shared test PACS can carry."""
    for patient in (world.patient, world.other_patient):
        patient.mrn = f"SYNC-{uuid.uuid4().hex[:12]}"
        patient.save(update_fields=["mrn"])


def store(orthanc: Orthanc, patient_id: str, instances: int = 1) -> str:
    study, series = generate_uid(), generate_uid()
    orthanc.stow([ct_dataset(study=study, series=series, patient_id=patient_id, instance_number=i + 1) for i in range(instances)])
    return study


def test_patient_sync_links_by_mrn(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    own = store(orthanc, world.patient.mrn, instances=2)
    theirs = store(orthanc, world.other_patient.mrn)
    response = client_for(world.clinician).post(f"/api/v1/patients/{world.patient.pk}/imaging/sync/")
    assert response.status_code == 200
    body = response.json()
    linked = ImagingStudy.objects.get(study_instance_uid=own)
    assert body["linked"] == [linked.pk] and body["mismatches"] == []
    assert linked.patient == world.patient and linked.link_source == LinkSource.SYNC
    assert linked.number_of_instances == 2 and linked.series.get().number_of_instances == 2
    assert not ImagingStudy.objects.filter(study_instance_uid=theirs).exists()
    # Again: nothing new, the study is refreshed.
    again = client_for(world.clinician).post(f"/api/v1/patients/{world.patient.pk}/imaging/sync/").json()
    assert again["linked"] == [] and again["refreshed"] == [linked.pk]


def test_a_changed_patient_id_is_reported_not_followed(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    study = store(orthanc, "RENAMED-IN-PACS")
    linked = ImagingStudy.objects.create(patient=world.patient, study_instance_uid=study, link_source=LinkSource.UPLOAD,
                                         dicom_patient_id=world.patient.mrn)
    report = imaging_study_sync(patient=world.patient)
    (mismatch,) = report.mismatches
    assert mismatch.reason == "patient_id_differs"
    assert (mismatch.dicom_patient_id, mismatch.mrn) == ("RENAMED-IN-PACS", world.patient.mrn)  # both identities
    linked.refresh_from_db()
    assert linked.patient == world.patient and linked.synced_at is None  # nothing changed


def test_a_confirmed_relink_stays_quiet(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    study = store(orthanc, "OUTSIDE-HOSPITAL-7")
    ImagingStudy.objects.create(patient=world.patient, study_instance_uid=study, link_source=LinkSource.UPLOAD,
                                dicom_patient_id="OUTSIDE-HOSPITAL-7", mismatch_confirmed=True)
    report = imaging_study_sync(patient=world.patient)
    assert report.mismatches == [] and len(report.refreshed) == 1


def test_a_study_under_this_mrn_linked_elsewhere(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    study = store(orthanc, world.patient.mrn)
    ImagingStudy.objects.create(patient=world.other_patient, study_instance_uid=study, link_source=LinkSource.UPLOAD,
                                dicom_patient_id=world.patient.mrn, mismatch_confirmed=True)
    body = client_for(world.clinician).post(f"/api/v1/patients/{world.patient.pk}/imaging/sync/").json()
    (mismatch,) = body["mismatches"]
    assert mismatch["reason"] == "linked_to_other_patient"
    # The other record is not named to a user who may not see it.
    assert mismatch["patient_id"] is None and mismatch["imaging_study_id"] is None
    assert world.other_patient.mrn not in str(body)


def test_missing_from_the_pacs(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    gone = ImagingStudy.objects.create(patient=world.patient, study_instance_uid=generate_uid(), link_source=LinkSource.SYNC)
    assert imaging_study_sync(patient=world.patient).missing == [gone.pk]


def test_global_sync_command(world: World, orthanc: Orthanc) -> None:
    unique_mrns(world)
    own = store(orthanc, world.patient.mrn)
    theirs = store(orthanc, world.other_patient.mrn)
    nobody = store(orthanc, f"NOBODY-{uuid.uuid4().hex[:8]}")
    out = io.StringIO()
    call_command("imaging_sync", stdout=out)
    assert ImagingStudy.objects.get(study_instance_uid=own).patient == world.patient
    assert ImagingStudy.objects.get(study_instance_uid=theirs).patient == world.other_patient
    assert not ImagingStudy.objects.filter(study_instance_uid=nobody).exists()
    assert f"no_patient_with_this_id: study {nobody} has PatientID 'NOBODY-" in out.getvalue()


def test_pacs_down_is_a_503(world: World, settings: object) -> None:
    settings.DICOMWEB_URL = "http://127.0.0.1:9/dicom-web"  # type: ignore[attr-defined]
    response = client_for(world.clinician).post(f"/api/v1/patients/{world.patient.pk}/imaging/sync/")
    assert (response.status_code, response.json()["code"]) == (503, "pacs_unavailable")
