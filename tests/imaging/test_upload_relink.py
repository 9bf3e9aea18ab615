"""An upload whose PatientID is another patient's MRN: never stored on confirm_relink alone.

It is stored only when the user names that other patient (relink_from) and may change both;
a study is never filed in the PACS under a patient the user cannot see.
"""

from __future__ import annotations

import pytest

from imaging.models import ImagingStudy
from tests.conftest import World
from tests.imaging.conftest import Orthanc
from tests.imaging.test_upload import files, good_study, post

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_another_patients_mrn_is_refused_even_with_confirm(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 1, patient_id=world.other_patient.mrn)
    orthanc.created.add(study)
    response = post(world, files(("a.dcm", data[0])), confirm_relink="true")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["detail"]["files"][0]["code"] == "study_conflict"
    assert orthanc.study_records(study) == []
    assert not ImagingStudy.objects.filter(study_instance_uid=study).exists()


def test_naming_a_patient_the_user_cannot_see_is_404(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 1, patient_id=world.other_patient.mrn)
    orthanc.created.add(study)
    response = post(world, files(("a.dcm", data[0])), confirm_relink="true", relink_from=str(world.other_patient.pk))
    assert response.status_code == 404
    assert orthanc.study_records(study) == []


def test_relink_from_a_patient_the_user_may_change_is_stored(world: World, orthanc: Orthanc) -> None:
    assert world.other_patient.care_team is not None
    world.other_patient.care_team.members.add(world.clinician)
    study, _series, data = good_study(world, 1, patient_id=world.other_patient.mrn)
    orthanc.created.add(study)
    # Naming the patient without confirming is still a mismatch.
    unconfirmed = post(world, files(("a.dcm", data[0])), relink_from=str(world.other_patient.pk))
    assert unconfirmed.status_code == 400
    assert unconfirmed.json()["detail"]["files"][0]["code"] == "patient_mismatch"
    response = post(world, files(("a.dcm", data[0])), confirm_relink="true", relink_from=str(world.other_patient.pk))
    assert response.status_code == 201, response.content[:300]
    linked = ImagingStudy.objects.get(study_instance_uid=study)
    assert linked.patient_id == world.patient.pk and linked.mismatch_confirmed


def test_confirm_alone_is_not_enough_and_a_consultant_cannot_relink(world: World, orthanc: Orthanc) -> None:
    study, _series, data = good_study(world, 1, patient_id=world.other_patient.mrn)
    orthanc.created.add(study)
    response = post(world, files(("a.dcm", data[0])), user=world.admin, confirm_relink="true")
    assert response.status_code == 400
    assert response.json()["detail"]["files"][0]["code"] == "study_conflict"
    response = post(world, files(("a.dcm", data[0])), user=world.consultant, confirm_relink="true",
                    relink_from=str(world.patient.pk))
    assert response.status_code in (403, 404)
    assert orthanc.study_records(study) == []
