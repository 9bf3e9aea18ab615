"""Chest X-ray intake outside the PACS workflow: a batch of images, a video file, a camera capture.

The web process validates and stores the uploaded bytes (``intake_create``) and queues one task
that carries the job id only; the worker classifies (``intake_run``), updating the job's progress
and publishing ``intake.progress`` events (ids, counts and status only) to the owner's sockets.
Results can then be filed into a patient's record as a DICOM study (``intake_file``).

Video: frames are sampled evenly (at most ``VIDEO_MAX_FRAMES``) from Motion-JPEG AVI files or
animated GIF/PNG/WebP (decoded with Pillow alone); other codecs (H.264, VP9, ...) are refused
with ``unsupported_video_codec``. The most suspicious frames are kept as key images.
"""

from __future__ import annotations

import base64
import io
import logging
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from celery import current_app
from django.db import transaction
from django.utils import timezone
from numpy.typing import NDArray
from PIL import Image, ImageSequence, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from cdss.core.errors import CdssError, Conflict, NotFound, RequestTooLarge, ValidationFailed
from cdss.core.events import event_publish_on_commit, user_group
from cdss.core.queues import queue_name
from imaging.dicom_files import dataset_save, grey8_pixels_set
from imaging.services import UploadSource, imaging_upload
from inference.models import AnalysisStatus, CxrIntakeInput, CxrIntakeJob, CxrIntakeMode
from inference.runtime.preprocessing import cxr_to_gray_u8
from inference.selectors import user_is_patient

log = logging.getLogger(__name__)

MODEL_KEY = "cxr_pneumonia"
TASK_INTAKE = "inference.cxr_intake_run"
MAX_FILES = 100
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 60 * 1024 * 1024
MAX_PIXELS = 40_000_000
VIDEO_MAX_FRAMES = 40
KEY_FRAMES = 3
CHUNK = 8
HEATMAP_PX = 192
DISCLAIMER = "supports, not replaces, clinical judgement"


class UnsupportedMedia(CdssError):
    """A file of a type or codec this endpoint cannot read (415)."""

    code = "unsupported_media"
    status_code = 415


@dataclass(frozen=True)
class Upload:
    name: str
    content: bytes


# --- decoding ------------------------------------------------------------------------------


def image_decode(content: bytes, *, name: str = "") -> NDArray[Any]:
    """Pixels of a PNG/JPEG/BMP/TIFF/WebP image or a single-frame DICOM file; grey or RGB uint8-like."""
    if content[128:132] == b"DICM":
        # runtime.io loads nibabel (60-150 ms): only a DICOM upload pays for it, not web start.
        from inference.runtime.io import dicom_image

        try:
            return dicom_image(pydicom.dcmread(io.BytesIO(content)))
        except Exception as exc:  # pydicom raises many types for a broken file
            raise UnsupportedMedia("The DICOM file holds no readable single-frame image.", code="not_an_image",
                                   detail={"file": name}) from exc
    try:
        with Image.open(io.BytesIO(content)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise RequestTooLarge("The image has too many pixels.", code="image_too_large",
                                      detail={"file": name, "max_pixels": MAX_PIXELS})
            im.seek(0)
            rgb = im.convert("RGB") if im.mode not in ("L", "I;16", "I") else im.convert("L")
            return np.asarray(rgb)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedMedia("The file is not an image this service can read.", code="not_an_image",
                               detail={"file": name}) from exc


def _avi_mjpeg_frames(content: bytes) -> list[bytes]:
    """The JPEG frames of a Motion-JPEG AVI (RIFF 'AVI ', stream handler MJPG, chunks ``##dc``)."""
    handlers = set()
    pos = 12
    frames: list[bytes] = []

    def walk(start: int, end: int) -> None:
        i = start
        while i + 8 <= end:
            fourcc = content[i : i + 4]
            (size,) = struct.unpack("<I", content[i + 4 : i + 8])
            body = i + 8
            if fourcc == b"LIST":
                walk(body + 4, min(body + size, end))
            elif fourcc == b"strh" and size >= 8:
                handlers.add((content[body : body + 4], content[body + 4 : body + 8]))
            elif fourcc[2:] in (b"dc", b"db") and size > 0:
                frames.append(content[body : body + size])
            i = body + size + (size & 1)

    walk(pos, len(content))
    video = [h for t, h in handlers if t == b"vids"]
    if not video or video[0].upper() not in (b"MJPG", b"AVRN", b"LJPG", b"JPEG"):
        raise UnsupportedMedia(
            "Only Motion-JPEG AVI, animated GIF, PNG or WebP videos can be read.",
            code="unsupported_video_codec",
            detail={"codec": (video[0].decode("latin-1").strip() if video else None)},
        )
    return frames


def video_frames(content: bytes, *, max_frames: int = VIDEO_MAX_FRAMES) -> tuple[list[int], list[NDArray[Any]], int]:
    """Evenly sampled frames: (frame numbers, pixels, total frames in the file)."""
    if content[:4] == b"RIFF" and content[8:12] == b"AVI ":
        jpegs = _avi_mjpeg_frames(content)
        if not jpegs:
            raise UnsupportedMedia("The video holds no frames.", code="unsupported_video_codec")
        picks = sorted(set(np.linspace(0, len(jpegs) - 1, min(max_frames, len(jpegs))).round().astype(int).tolist()))
        return picks, [image_decode(jpegs[i], name=f"frame {i}") for i in picks], len(jpegs)
    try:
        with Image.open(io.BytesIO(content)) as im:
            n = int(getattr(im, "n_frames", 1))
            if n < 2:
                raise UnsupportedMedia("The file is a still image, not a video.", code="unsupported_video_codec")
            picks = sorted(set(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int).tolist()))
            out = []
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                if i in picks:
                    out.append(np.asarray(frame.convert("RGB")))
            return picks, out, n
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        codec = "mp4/mov" if content[4:8] == b"ftyp" else ("webm/mkv" if content[:4] == b"\x1aE\xdf\xa3" else None)
        raise UnsupportedMedia(
            "Only Motion-JPEG AVI, animated GIF, PNG or WebP videos can be read.",
            code="unsupported_video_codec", detail={"container": codec},
        ) from exc


def png_bytes(pixels: NDArray[Any], *, max_px: int | None = None) -> bytes:
    arr = np.asarray(pixels)
    image = Image.fromarray(arr if arr.dtype == np.uint8 and arr.ndim in (2, 3) else cxr_to_gray_u8(arr))
    if max_px:
        image.thumbnail((max_px, max_px))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


# --- create --------------------------------------------------------------------------------


def intake_access_check(user: Any) -> None:
    """Intake is a clinician's tool: a patient is told it does not exist (404, like an unknown job)."""
    if user_is_patient(user):
        raise NotFound("Intake not found.", code="intake_not_found")


def intake_create(*, actor: Any, mode: str, uploads: Sequence[Upload]) -> CxrIntakeJob:
    """Validate the uploaded files, store them and queue the classification."""
    intake_access_check(actor)
    if mode not in CxrIntakeMode.values:
        raise ValidationFailed("Unknown intake mode.", code="unknown_mode", detail={"mode": mode})
    if not uploads:
        raise ValidationFailed("No files were uploaded.", code="no_files")
    limit = 1 if mode != CxrIntakeMode.BATCH else MAX_FILES
    if len(uploads) > limit:
        raise ValidationFailed(f"At most {limit} file(s) per {mode} request.", code="too_many_files",
                               detail={"max_files": limit})
    total = 0
    for u in uploads:
        cap = MAX_VIDEO_BYTES if mode == CxrIntakeMode.VIDEO else MAX_IMAGE_BYTES
        if len(u.content) > cap:
            raise RequestTooLarge("The file is too large.", code="file_too_large",
                                  detail={"file": u.name, "max_bytes": cap})
        if mode == CxrIntakeMode.VIDEO:
            _, _, n_frames = video_frames(u.content, max_frames=2)  # refuses other codecs now, not in the worker
            total = min(VIDEO_MAX_FRAMES, n_frames)
        else:
            image_decode(u.content, name=u.name)
            total += 1
    kind = "video" if mode == CxrIntakeMode.VIDEO else "image"
    with transaction.atomic():
        job = CxrIntakeJob.objects.create(created_by=actor, mode=mode, total=total)
        CxrIntakeInput.objects.bulk_create([
            CxrIntakeInput(job=job, index=i, name=Path(u.name).name[:255] or f"{kind}-{i}", kind=kind, content=u.content)
            for i, u in enumerate(uploads)
        ])
        transaction.on_commit(lambda: _task_send(job.pk))
    return job


def _task_send(job_id: int) -> None:
    current_app.send_task(TASK_INTAKE, args=[job_id], queue=queue_name("default"))


# --- run (worker) --------------------------------------------------------------------------


def _publish(job: CxrIntakeJob) -> None:
    try:
        event_publish_on_commit(
            groups=[user_group(job.created_by_id)], event_type="intake.progress",
            payload={"intake_id": job.pk, "status": job.status, "progress": job.progress, "done": job.done,
                     "total": job.total, "error_code": job.error_code or None},
        )
    except Exception:  # a lost notification must not fail the job: the page also polls
        log.warning("intake.progress not published for intake %s", job.pk, exc_info=True)


def _save(job: CxrIntakeJob, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=[*fields, "updated_at"])
    _publish(job)


def _result_row(index: int, name: str, r: dict[str, Any], *, frame: int | None = None) -> dict[str, Any]:
    from inference.runtime.cxr import heatmap_overlay  # torch: worker only, never the web process

    row: dict[str, Any] = {
        "index": index, "name": name, "probability": r["calibrated_probability"], "threshold": r["threshold"],
        "positive": r["positive"], "label": r["label"], "decision": r.get("decision", r["label"]),
        "uncertain": bool(r.get("uncertain")), "probabilities": r["probabilities"],
        "ood": ({"flag": r["ood"]["flag"], "reasons": r["ood"]["reasons"], "messages": r["ood"]["messages"]}
                if r.get("ood") else None),
    }
    if frame is not None:
        row["frame"] = frame
    if r.get("heatmap") is not None and r.get("_image") is not None:
        row["heatmap"] = _data_url(png_bytes(heatmap_overlay(r["_image"], r["heatmap"]), max_px=HEATMAP_PX))
    return row


def _images_of(job: CxrIntakeJob) -> Iterator[tuple[int, str, NDArray[Any]]]:
    for item in job.inputs.filter(kind="image").order_by("index"):
        yield item.index, item.name, image_decode(bytes(item.content), name=item.name)


def intake_run(*, job_id: int) -> None:
    """Classify the job's images (or sampled video frames); idempotent for a finished job."""
    from inference.runtime.cxr import run_cxr  # torch: worker only, never the web process

    job = CxrIntakeJob.objects.select_related(None).get(pk=job_id)
    if job.status in (AnalysisStatus.SUCCEEDED, AnalysisStatus.FAILED):
        return
    _save(job, status=AnalysisStatus.RUNNING, progress=1)
    try:
        if job.mode == CxrIntakeMode.VIDEO:
            video = job.inputs.get(kind="video")
            frames, pixels, n_frames = video_frames(bytes(video.content))
            named: list[tuple[int, str, NDArray[Any], int | None]] = [
                (i, f"{video.name} frame {f}", px, f) for i, (f, px) in enumerate(zip(frames, pixels, strict=True))
            ]
        else:
            named = [(i, name, px, None) for i, name, px in _images_of(job)]
            n_frames = 0
        _save(job, total=len(named))
        rows: list[dict[str, Any]] = []
        model: dict[str, Any] = {}
        for start in range(0, len(named), CHUNK):
            chunk = named[start : start + CHUNK]
            results = run_cxr(MODEL_KEY, [c[2] for c in chunk], heatmaps=True)
            for (i, name, px, frame), r in zip(chunk, results, strict=True):
                r["_image"] = px
                rows.append(_result_row(i, name, r, frame=frame))
            model = results[0]["model"]
            done = start + len(chunk)
            _save(job, done=done, progress=max(1, min(99, round(100 * done / max(len(named), 1)))))
        timeline: list[dict[str, Any]] = []
        if job.mode == CxrIntakeMode.VIDEO:
            timeline = [{"frame": r["frame"], "probability": r["probability"]} for r in rows]
            key = sorted(rows, key=lambda r: -r["probability"])[:KEY_FRAMES]
            for r in key:
                r["key_image"] = True
            with transaction.atomic():
                CxrIntakeInput.objects.filter(job=job, kind="frame").delete()
                CxrIntakeInput.objects.bulk_create([
                    CxrIntakeInput(job=job, index=r["index"], name=r["name"][:255], kind="frame",
                                   content=png_bytes(named[r["index"]][2]))
                    for r in key
                ])
            rows = [{k: v for k, v in r.items() if k != "heatmap" or r.get("key_image")} for r in rows]
        _save(job, status=AnalysisStatus.SUCCEEDED, progress=100, results=rows, timeline=timeline,
              model={**model, "disclaimer": DISCLAIMER, "video_frames": n_frames or None},
              finished_at=timezone.now())
    except CdssError as exc:
        _save(job, status=AnalysisStatus.FAILED, error_code=exc.code, error_message=exc.message[:500],
              finished_at=timezone.now())


# --- read / file ---------------------------------------------------------------------------


def intake_get_for_user(user: Any, job_id: int) -> CxrIntakeJob:
    """The job, when ``user`` started it; otherwise not found (the two are not told apart)."""
    intake_access_check(user)
    job = CxrIntakeJob.objects.filter(pk=job_id, created_by_id=getattr(user, "pk", None)).first()
    if job is None:
        raise NotFound("Intake not found.", code="intake_not_found")
    return job


def _secondary_capture(*, patient: Any, pixels: NDArray[Any], study_uid: str, series_uid: str, number: int,
                       description: str, comment: str, path: Path) -> None:
    grey = cxr_to_gray_u8(pixels)
    now = timezone.localtime()
    ds = Dataset()
    ds.PatientID = patient.mrn
    ds.PatientName = f"{patient.family_name}^{patient.given_name}"
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d") if patient.birth_date else ""
    ds.PatientSex = {"male": "M", "female": "F"}.get(getattr(patient, "sex", ""), "O")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDescription = "Chest X-ray intake"
    ds.SeriesDescription = description[:64]
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BodyPartExamined = "CHEST"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.StudyID = "1"
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.ImageComments = comment[:10240]
    grey8_pixels_set(ds, grey)
    dataset_save(ds, path)


def intake_file(*, actor: Any, job: CxrIntakeJob, patient: Any, indices: Sequence[int] | None, request: Any = None) -> dict[str, Any]:
    """File the job's images (a batch's chosen images, a video's key frames, the capture) into
    ``patient``'s record as one new DICOM study; each instance carries its AI result as a comment."""
    if job.status != AnalysisStatus.SUCCEEDED:
        raise Conflict("The intake has not finished.", code="intake_not_finished")
    kind = "frame" if job.mode == CxrIntakeMode.VIDEO else "image"
    items = list(job.inputs.filter(kind=kind).order_by("index"))
    if indices:
        wanted = set(indices)
        unknown = sorted(wanted - {i.index for i in items})
        if unknown:
            raise ValidationFailed("Unknown image index.", code="unknown_index", detail={"indices": unknown})
        items = [i for i in items if i.index in wanted]
    if not items:
        raise ValidationFailed("Nothing to file.", code="nothing_to_file")
    by_index = {r["index"]: r for r in job.results}
    model = job.model or {}
    study_uid, series_uid = str(generate_uid()), str(generate_uid())
    with tempfile.TemporaryDirectory(prefix="cdss-intake-") as tmp:
        sources = []
        for n, item in enumerate(items, start=1):
            r = by_index.get(item.index, {})
            comment = (
                f"{model.get('key', MODEL_KEY)} {model.get('version', '')}: P(PNEUMONIA) "
                f"{100 * float(r.get('probability', 0)):.1f} % (calibrated), decision {r.get('decision', '?')}"
                + ("; out of distribution: " + ", ".join(r["ood"]["reasons"]) if (r.get("ood") or {}).get("flag") else "")
                + f". AI result {DISCLAIMER}. Source: {job.get_mode_display()} '{item.name}'."
            )
            path = Path(tmp) / f"{n:04d}.dcm"
            _secondary_capture(patient=patient, pixels=image_decode(bytes(item.content), name=item.name),
                               study_uid=study_uid, series_uid=series_uid, number=n,
                               description=f"CXR intake ({job.mode})", comment=comment, path=path)
            sources.append(UploadSource(name=item.name, path=path))
        report = imaging_upload(actor=actor, patient=patient, sources=sources, request=request)
    studies = [s for s in report.studies if s.status in ("stored", "partial")]
    if not studies:
        raise Conflict("The PACS did not store the study.", code="intake_not_filed", detail=report.as_dict())
    filed = {"patient": patient.pk, "study_instance_uid": study_uid, "imaging_study_id": studies[0].imaging_study_id,
             "instances": report.stored, "at": timezone.now().isoformat()}
    job.filed = [*job.filed, filed]
    job.save(update_fields=["filed", "updated_at"])
    return filed
