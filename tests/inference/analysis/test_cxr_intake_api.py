"""Chest X-ray intake API: batch, video and camera inputs, stable error codes, access, CSV export.

The worker's function (``intake_run``) is called in-process here; ``tests/browser/test_cxr_intake.py``
runs the same jobs through a real Celery worker and files a result into Orthanc.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inference.cxr_intake import MAX_IMAGE_BYTES, intake_run
from inference.models import CxrIntakeInput, CxrIntakeJob
from tests.conftest import World
from tests.inference.cxr_media import NORMAL, PNEUMONIA, clip_frames, fake_mp4, grey, mjpeg_avi, png

pytestmark = pytest.mark.django_db

URL = "/api/v1/cxr-intake/"


def _files(*named: tuple[str, bytes], content_type: str = "image/png") -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type=content_type) for name, data in named]


def _post(api: Any, user: Any, mode: str, files: list[SimpleUploadedFile]) -> Any:
    return api(user).post(URL, {"mode": mode, "files": files}, format="multipart")


def _run(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.content
    intake_run(job_id=response.json()["id"])
    return response.json()


def test_batch_gives_a_row_per_image_with_probability_decision_and_heatmap(api: Any, world: World) -> None:
    created = _run(_post(api, world.clinician, "batch", _files(("a.png", png(grey(NORMAL))), ("b.png", png(grey(PNEUMONIA))))))
    assert created["status"] == "queued" and created["total"] == 2
    job = api(world.clinician).get(f"{URL}{created['id']}/").json()
    assert job["status"] == "succeeded" and job["progress"] == 100 and job["done"] == 2
    rows = {r["name"]: r for r in job["results"]}
    assert rows["a.png"]["probability"] < rows["a.png"]["threshold"] <= rows["b.png"]["probability"]
    assert rows["b.png"]["label"] == "PNEUMONIA" and rows["a.png"]["label"] == "NORMAL"
    for r in rows.values():
        assert r["decision"] in ("NORMAL", "PNEUMONIA", "uncertain", "out_of_distribution")
        assert r["heatmap"].startswith("data:image/png;base64,")
    assert job["model"]["key"] == "cxr_pneumonia" and job["model"]["version"]
    assert job["disclaimer"] == "supports, not replaces, clinical judgement"


def test_batch_csv_export(api: Any, world: World) -> None:
    created = _run(_post(api, world.clinician, "batch", _files(("a.png", png(grey(NORMAL))), ("b.png", png(grey(PNEUMONIA))))))
    response = api(world.clinician).get(f"{URL}{created['id']}/results.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = [r for r in csv.reader(io.StringIO(response.content.decode())) if r and not r[0].startswith("#")]
    assert rows[0][:4] == ["index", "file", "frame", "probability_PNEUMONIA"]
    assert [r[1] for r in rows[1:]] == ["a.png", "b.png"]
    assert "supports, not replaces, clinical judgement" in response.content.decode()


def test_video_samples_frames_gives_a_timeline_and_keeps_key_frames(api: Any, world: World) -> None:
    clip = mjpeg_avi(clip_frames(12))
    created = _run(_post(api, world.clinician, "video", _files(("clip.avi", clip), content_type="video/x-msvideo")))
    job = api(world.clinician).get(f"{URL}{created['id']}/").json()
    assert job["status"] == "succeeded"
    assert [t["frame"] for t in job["timeline"]] == list(range(12))
    late = [t["probability"] for t in job["timeline"][6:]]
    early = [t["probability"] for t in job["timeline"][:6]]
    assert min(late) > max(early)  # the pneumonia half of the clip is the suspicious one
    keys = [r for r in job["results"] if r.get("key_image")]
    assert len(keys) == 3 and all(r["frame"] >= 6 and r["heatmap"] for r in keys)
    assert CxrIntakeInput.objects.filter(job_id=created["id"], kind="frame").count() == 3


def test_camera_capture_is_one_image(api: Any, world: World) -> None:
    created = _run(_post(api, world.clinician, "camera", _files(("capture.png", png(grey(PNEUMONIA))))))
    job = api(world.clinician).get(f"{URL}{created['id']}/").json()
    assert len(job["results"]) == 1 and job["results"][0]["name"] == "capture.png"
    assert "ood" in job["results"][0]


@pytest.mark.parametrize(
    ("mode", "named", "status", "code"),
    [
        ("batch", [("notes.txt", b"not an image at all")], 415, "not_an_image"),
        ("video", [("clip.mp4", fake_mp4())], 415, "unsupported_video_codec"),
        ("video", [("h264.avi", mjpeg_avi(clip_frames(3), handler=b"H264"))], 415, "unsupported_video_codec"),
        ("video", [("still.png", png(grey(NORMAL)))], 415, "unsupported_video_codec"),
        ("batch", [], 400, "no_files"),
        ("camera", [("a.png", png(grey(NORMAL))), ("b.png", png(grey(NORMAL)))], 400, "too_many_files"),
        ("batch", [("big.png", b"\x89PNG" + b"\0" * (MAX_IMAGE_BYTES + 1))], 413, "file_too_large"),
        ("sideways", [("a.png", png(grey(NORMAL)))], 400, "unknown_mode"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code(api: Any, world: World, mode: str, named: list[tuple[str, bytes]],
                                                 status: int, code: str) -> None:
    response = _post(api, world.clinician, mode, _files(*named))
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not CxrIntakeJob.objects.exists()


def test_a_job_is_visible_to_its_owner_only(api: Any, world: World) -> None:
    created = _run(_post(api, world.clinician, "batch", _files(("a.png", png(grey(NORMAL))))))
    for user in (world.other_clinician, world.consultant, world.patient_user):
        response = api(user).get(f"{URL}{created['id']}/")
        assert response.status_code == 404 and response.json()["code"] == "intake_not_found"
        assert api(user).get(f"{URL}{created['id']}/results.csv").status_code == 404
    assert api(None).get(f"{URL}{created['id']}/").status_code in (401, 403)
    assert _post(api, world.patient_user, "batch", _files(("a.png", png(grey(NORMAL))))).status_code == 404


def test_filing_needs_a_finished_job_and_an_editable_patient(api: Any, world: World) -> None:
    response = _post(api, world.clinician, "batch", _files(("a.png", png(grey(NORMAL)))))
    job_id = response.json()["id"]
    file_url = f"{URL}{job_id}/file/"
    early = api(world.clinician).post(file_url, {"patient": world.patient.pk}, format="json")
    assert early.status_code == 409 and early.json()["code"] == "intake_not_finished"
    intake_run(job_id=job_id)
    foreign = api(world.clinician).post(file_url, {"patient": world.other_patient.pk}, format="json")
    assert foreign.status_code == 404
    unknown = api(world.clinician).post(file_url, {"patient": world.patient.pk, "indices": [7]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_index"


def test_a_worker_rerun_of_a_finished_job_changes_nothing(api: Any, world: World) -> None:
    created = _run(_post(api, world.clinician, "batch", _files(("a.png", png(grey(NORMAL))))))
    before = CxrIntakeJob.objects.get(pk=created["id"])
    intake_run(job_id=created["id"])
    after = CxrIntakeJob.objects.get(pk=created["id"])
    assert after.updated_at == before.updated_at and after.results == before.results
