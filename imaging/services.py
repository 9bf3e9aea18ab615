"""Operations on imaging studies: linking to patients, syncing from the PACS, uploading to it.

Linking follows one rule: a study belongs to the patient whose MRN equals the study's DICOM
PatientID. Anything else (a different PatientID, a study already linked elsewhere) is reported
with both identities and changes nothing, unless a user explicitly confirms the link (the
``confirm_relink`` flag of an upload or import), which is recorded on the study and audited.

Uploads are validated file by file before anything is sent. A study is sent only when every
file of it passed; a file that cannot be attributed to a study (unreadable, not DICOM) stops the
whole upload, because it might belong to any of them. Files go to the PACS by STOW-RS through
the one DICOMweb client factory, in batches of bounded size, never the whole upload in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import Conflict, ServiceUnavailable, ValidationFailed
from imaging.dicomweb.client import dicomweb_client_build
from imaging.models import ImagingSeries, ImagingStudy, LinkSource
from imaging.uids import uid_is_valid
from imaging.validation import DicomFileInfo, DicomRejected, dicom_file_validate
from patients.models import Patient

logger = logging.getLogger(__name__)

T = TypeVar("T")

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
# Archive entries that are never images: skipped, not rejected.
_ARCHIVE_JUNK = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
_QIDO_PAGE = 200
_QIDO_UID_CHUNK = 50

STUDY_FIELDS = [
    "StudyDate", "StudyDescription", "AccessionNumber", "ModalitiesInStudy", "PatientID",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
]
SERIES_FIELDS = [
    "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate", "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
]


class PacsUnavailable(ServiceUnavailable):
    code = "pacs_unavailable"


class UploadTooLarge(ValidationFailed):
    code = "upload_too_large"
    status_code = 413


# --- QIDO-RS helpers ---------------------------------------------------------------------------

def _first(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or []
    return values[0] if values else None


def _text(item: dict[str, Any], tag: str, limit: int = 255) -> str:
    value = _first(item, tag)
    if isinstance(value, dict):  # PN
        value = value.get("Alphabetic", "")
    return "" if value is None else str(value).strip()[:limit]


def _texts(item: dict[str, Any], tag: str) -> list[str]:
    return [str(v).strip() for v in item.get(tag, {}).get("Value") or [] if v is not None and str(v).strip()]


def _int(item: dict[str, Any], tag: str) -> int | None:
    value = _first(item, tag)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _pacs(call: Callable[[], T]) -> T:
    try:
        return call()
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        logger.warning("PACS answered HTTP %s", status)
        raise PacsUnavailable("The PACS refused the request.", detail={"status": status}) from exc
    except requests.RequestException as exc:
        logger.warning("PACS unreachable: %s", type(exc).__name__)
        raise PacsUnavailable("The PACS is unreachable; try again shortly.") from exc


def _qido_studies(client: DICOMwebClient, filters: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0

    while True:
        page = _pacs(partial(client.search_for_studies, search_filters=filters, fields=STUDY_FIELDS, limit=_QIDO_PAGE, offset=offset))
        found.extend(page)
        if len(page) < _QIDO_PAGE:
            return found
        offset += len(page)


def _qido_studies_by_uid(client: DICOMwebClient, uids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """StudyInstanceUID -> the PACS's study records (one per PatientID it is filed under)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for start in range(0, len(uids), _QIDO_UID_CHUNK):
        chunk = list(uids[start : start + _QIDO_UID_CHUNK])
        for item in _qido_studies(client, {"StudyInstanceUID": ",".join(chunk)}):
            uid = _text(item, "0020000D", 64)
            if uid in chunk:
                found[uid].append(item)
    return found


# --- reports -----------------------------------------------------------------------------------

@dataclass
class StudyMismatch:
    """A study whose DICOM PatientID does not match the record it is (or would be) linked to."""

    study_instance_uid: str
    reason: str  # patient_id_differs | no_patient_with_this_id | linked_to_other_patient
    dicom_patient_id: str
    mrn: str | None = None
    imaging_study_id: int | None = None
    patient_id: int | None = None


@dataclass
class SyncReport:
    linked: list[int] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    mismatches: list[StudyMismatch] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- linking and refreshing --------------------------------------------------------------------

def _study_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "study_date": _date(_text(item, "00080020")),
        "description": _text(item, "00081030"),
        "accession_number": _text(item, "00080050", 64),
        "modalities": ",".join(_texts(item, "00080061"))[:128],
        "number_of_series": _int(item, "00201206") or 0,
        "number_of_instances": _int(item, "00201208") or 0,
        "dicom_patient_id": _text(item, "00100020", 64),
    }


def _series_refresh(*, study: ImagingStudy, client: DICOMwebClient) -> None:
    items = _pacs(lambda: client.search_for_series(study_instance_uid=study.study_instance_uid, fields=SERIES_FIELDS))
    seen: set[str] = set()
    body_parts: list[str] = []
    for item in items:
        uid = _text(item, "0020000E", 64)
        if not uid_is_valid(uid):
            continue
        seen.add(uid)
        fields = {
            "modality": _text(item, "00080060", 16),
            "body_part": _text(item, "00180015", 64),
            "description": _text(item, "0008103E"),
            "series_number": _int(item, "00200011"),
            "series_date": _date(_text(item, "00080021")),
            "number_of_instances": _int(item, "00201209") or 0,
        }
        body_part = str(fields["body_part"])
        if body_part and body_part not in body_parts:
            body_parts.append(body_part)
        elsewhere = ImagingSeries.objects.filter(series_instance_uid=uid).exclude(study=study).values_list("pk", flat=True).first()
        if elsewhere is not None:
            logger.warning("series %s is filed under another study; not moved", elsewhere)
            continue
        ImagingSeries.objects.update_or_create(study=study, series_instance_uid=uid, defaults=fields)
    ImagingSeries.objects.filter(study=study).exclude(series_instance_uid__in=seen).delete()
    study.body_parts = ",".join(body_parts)[:255]


def imaging_study_refresh(*, study: ImagingStudy, client: DICOMwebClient | None = None, item: dict[str, Any] | None = None) -> bool:
    """Update a linked study and its series from the PACS. False when the PACS no longer has it."""
    client = client or dicomweb_client_build()
    if item is None:
        records = _qido_studies_by_uid(client, [study.study_instance_uid]).get(study.study_instance_uid, [])
        if not records:
            return False
        item = records[0]
    with transaction.atomic():
        fields = _study_fields(item)
        if study.mismatch_confirmed:
            # Keep the PatientID the user confirmed; a later change is reported by the sync.
            fields.pop("dicom_patient_id")
        for name, value in fields.items():
            setattr(study, name, value)
        _series_refresh(study=study, client=client)
        study.synced_at = timezone.now()
        study.save()
    return True


@transaction.atomic
def imaging_study_link(
    *,
    actor: Any,
    patient: Patient,
    study_instance_uid: str,
    source: str,
    dicom_patient_id: str,
    mismatch_confirmed: bool = False,
    request: Any = None,
) -> tuple[ImagingStudy, bool]:
    """Link a study to a patient (created True), or return the existing link to the same patient.

    A study linked to another patient is a Conflict: a study never moves silently.
    """
    existing = ImagingStudy.objects.select_for_update().filter(study_instance_uid=study_instance_uid).first()
    if existing is not None:
        if existing.patient_id != patient.pk:
            raise Conflict("This study is linked to another patient.", code="study_conflict")
        if mismatch_confirmed and not existing.mismatch_confirmed:
            existing.mismatch_confirmed = True
            existing.dicom_patient_id = dicom_patient_id[:64]
            existing.save(update_fields=["mismatch_confirmed", "dicom_patient_id", "updated_at"])
        return existing, False
    if not uid_is_valid(study_instance_uid):
        raise ValidationFailed("Not a valid StudyInstanceUID.", code="invalid_uid")
    study = ImagingStudy.objects.create(
        patient=patient,
        study_instance_uid=study_instance_uid,
        dicom_patient_id=dicom_patient_id[:64],
        mismatch_confirmed=mismatch_confirmed and dicom_patient_id != patient.mrn,
        link_source=source,
        linked_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="imaging_study", object_id=study.pk,
        patient_id=patient.pk, request=request,
        detail={"source": source, "mismatch_confirmed": study.mismatch_confirmed},
    )
    return study, True


def imaging_study_sync(*, actor: Any = None, patient: Patient | None = None, request: Any = None) -> SyncReport:
    """Link and refresh studies from the PACS by QIDO-RS: one patient's, or every study in it.

    New links only where the study's PatientID equals a patient's MRN; every other case is a
    mismatch in the report (with the PACS's PatientID and the record's MRN) and changes nothing.
    """
    client = dicomweb_client_build()
    report = SyncReport()
    if patient is not None:
        # QIDO matching treats * ? as wildcards; the exact comparison below makes that harmless.
        candidates = [i for i in _qido_studies(client, {"PatientID": patient.mrn}) if _text(i, "00100020", 64) == patient.mrn]
        linked = list(ImagingStudy.objects.filter(patient=patient).select_related("patient"))
    else:
        candidates = _qido_studies(client, {})
        linked = list(ImagingStudy.objects.select_related("patient"))
    by_uid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in candidates:
        uid = _text(item, "0020000D", 64)
        if uid_is_valid(uid):
            by_uid[uid].append(item)
    linked_by_uid = {study.study_instance_uid: study for study in linked}
    missing_uids = [uid for uid in linked_by_uid if uid not in by_uid]
    if missing_uids:
        by_uid.update(_qido_studies_by_uid(client, missing_uids))
    others = {
        s.study_instance_uid: s
        for s in ImagingStudy.objects.filter(study_instance_uid__in=[u for u in by_uid if u not in linked_by_uid]).select_related("patient")
    }
    for uid, items in by_uid.items():
        pacs_ids = sorted({_text(i, "00100020", 64) for i in items})
        study = linked_by_uid.get(uid) or others.get(uid)
        if study is not None and patient is not None and study.patient_id != patient.pk:
            # Filed under this patient's MRN in the PACS but linked to another record: say so
            # without naming the other record.
            report.mismatches.append(StudyMismatch(
                study_instance_uid=uid, reason="linked_to_other_patient", dicom_patient_id=patient.mrn, mrn=patient.mrn,
            ))
            continue
        if study is not None:
            confirmed = {study.patient.mrn} | ({study.dicom_patient_id} if study.mismatch_confirmed else set())
            differing = [pid for pid in pacs_ids if pid not in confirmed]
            if differing:
                report.mismatches.append(StudyMismatch(
                    study_instance_uid=uid, reason="patient_id_differs", dicom_patient_id=differing[0],
                    mrn=study.patient.mrn, imaging_study_id=study.pk, patient_id=study.patient_id,
                ))
                continue
            imaging_study_refresh(study=study, client=client, item=items[0])
            report.refreshed.append(study.pk)
            continue
        if len(pacs_ids) != 1:
            report.mismatches.append(StudyMismatch(
                study_instance_uid=uid, reason="several_patient_ids", dicom_patient_id=",".join(pacs_ids)[:200],
            ))
            continue
        target = patient if patient is not None else Patient.objects.filter(mrn=pacs_ids[0]).first() if pacs_ids[0] else None
        if target is None:
            report.mismatches.append(StudyMismatch(study_instance_uid=uid, reason="no_patient_with_this_id", dicom_patient_id=pacs_ids[0]))
            continue
        study, _created = imaging_study_link(
            actor=actor, patient=target, study_instance_uid=uid, source=LinkSource.SYNC,
            dicom_patient_id=pacs_ids[0], request=request,
        )
        imaging_study_refresh(study=study, client=client, item=items[0])
        report.linked.append(study.pk)
    report.missing = sorted(linked_by_uid[uid].pk for uid in missing_uids if uid not in by_uid or not by_uid[uid])
    return report


# --- upload ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadSource:
    """A file on disk as the user named it (an uploaded temporary file, or a path to import)."""

    name: str
    path: Path


@dataclass
class FileResult:
    name: str
    status: str  # stored | rejected | not_sent | failed | skipped
    code: str | None = None
    message: str = ""
    detail: dict[str, Any] | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None

    def reject(self, code: str, message: str, detail: dict[str, Any] | None = None, status: str = "rejected") -> None:
        self.status, self.code, self.message, self.detail = status, code, message, detail


@dataclass
class StudyResult:
    study_instance_uid: str
    status: str  # stored | partial | rejected | failed
    files: int
    imaging_study_id: int | None = None
    mismatch_confirmed: bool = False


@dataclass
class UploadReport:
    files: list[FileResult]
    studies: list[StudyResult]

    @property
    def stored(self) -> int:
        return sum(1 for f in self.files if f.status == "stored")

    @property
    def problems(self) -> int:
        return sum(1 for f in self.files if f.status in ("rejected", "not_sent", "failed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "rejected": self.problems,
            "files": [asdict(f) for f in self.files],
            "studies": [asdict(s) for s in self.studies],
        }


@dataclass
class _Item:
    result: FileResult
    path: Path | None = None
    info: DicomFileInfo | None = None


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


class _CapExceeded(Exception):
    pass


def _copy_capped(source: IO[bytes], dest: Path, cap: int) -> int:
    """Copy at most ``cap`` bytes, counting what is really read (zip headers can lie)."""
    written = 0
    with dest.open("wb") as out:
        while chunk := source.read(1024 * 1024):
            written += len(chunk)
            if written > cap:
                raise _CapExceeded
            out.write(chunk)
    return written


def _upload_items(sources: Iterable[UploadSource], workdir: Path) -> Iterator[_Item]:
    """Each DICOM candidate: plain files as they are, zip members extracted one at a time."""
    count = 0
    expanded = 0
    file_max = settings.IMAGING_FILE_MAX_BYTES
    for source in sources:
        if not _is_zip(source.path):
            count += 1
            if count > settings.IMAGING_UPLOAD_MAX_FILES:
                raise ValidationFailed("Too many files in one upload.", code="too_many_files")
            yield _Item(FileResult(name=source.name[:255], status="pending"), source.path)
            continue
        try:
            archive = zipfile.ZipFile(source.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
            result = FileResult(name=source.name[:255], status="pending")
            result.reject("archive_invalid", "The zip archive cannot be read.")
            yield _Item(result)
            continue
        with archive:
            for member in archive.infolist():
                if member.is_dir():
                    continue
                result = FileResult(name=f"{source.name}/{member.filename}"[:255], status="pending")
                base = member.filename.rsplit("/", 1)[-1]
                if member.filename.startswith(_ARCHIVE_JUNK) or base in _ARCHIVE_JUNK or "/__MACOSX/" in member.filename:
                    result.reject("not_an_image", "Not an image file; skipped.", status="skipped")
                    yield _Item(result)
                    continue
                count += 1
                if count > settings.IMAGING_UPLOAD_MAX_FILES:
                    raise ValidationFailed("Too many files in one upload.", code="too_many_files")
                if member.flag_bits & 0x1:
                    result.reject("archive_invalid", "Encrypted archive members are not accepted.")
                    yield _Item(result)
                    continue
                if member.file_size > file_max:
                    result.reject("file_too_large", "The file is larger than allowed.", {"max_bytes": file_max})
                    yield _Item(result)
                    continue
                dest = workdir / f"member-{count}"
                remaining = settings.IMAGING_UPLOAD_MAX_EXPANDED_BYTES - expanded
                try:
                    with archive.open(member) as handle:
                        expanded += _copy_capped(handle, dest, min(file_max, remaining))
                except _CapExceeded as exc:
                    dest.unlink(missing_ok=True)
                    if remaining < file_max:
                        raise UploadTooLarge("The archive expands to more than allowed.") from exc
                    result.reject("file_too_large", "The file is larger than allowed.", {"max_bytes": file_max})
                    yield _Item(result)
                    continue
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError):
                    dest.unlink(missing_ok=True)
                    result.reject("archive_invalid", "This archive member cannot be extracted.")
                    yield _Item(result)
                    continue
                if _is_zip(dest):
                    dest.unlink(missing_ok=True)
                    result.reject("nested_archive", "Archives inside archives are not accepted.")
                    yield _Item(result)
                    continue
                yield _Item(result, dest)


def _validate(item: _Item) -> None:
    assert item.path is not None
    try:
        info = dicom_file_validate(path=item.path, max_bytes=settings.IMAGING_FILE_MAX_BYTES)
    except DicomRejected as exc:
        item.result.reject(exc.code, exc.message, exc.detail)
        item.result.study_instance_uid = exc.study_instance_uid
        item.result.series_instance_uid = exc.series_instance_uid
        item.result.sop_instance_uid = exc.sop_instance_uid
        return
    item.info = info
    item.result.study_instance_uid = info.study_instance_uid
    item.result.series_instance_uid = info.series_instance_uid
    item.result.sop_instance_uid = info.sop_instance_uid
    if info.sop_class_uid == DICOMDIR_SOP_CLASS:
        item.result.reject("dicomdir", "A DICOMDIR media index; skipped.", status="skipped")


def _other_patient_allowed(*, pid: str, patient: Patient, relink_from: Patient | None) -> bool | None:
    """None when ``pid`` is no other patient's MRN; else whether the user named that patient.

    A PatientID that is another patient's MRN is never relinked on ``confirm_relink`` alone: the
    user must name that patient (``relink_from``, which the caller has already checked the user
    may change), so no study is ever filed under a patient the user cannot see or change.
    """
    other = Patient.objects.filter(mrn=pid).exclude(pk=patient.pk).values_list("pk", flat=True).first()
    if other is None:
        return None
    return relink_from is not None and relink_from.pk == other


def _check_study(
    *, uid: str, items: list[_Item], patient: Patient, confirm_relink: bool, client: DICOMwebClient,
    relink_from: Patient | None = None,
) -> bool:
    """Study-level checks; rejects every file of the study on failure. True if a mismatch is confirmed."""

    def reject_all(code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        for item in items:
            if item.result.status == "pending":
                item.result.reject(code, message, detail)

    owner = ImagingStudy.objects.filter(study_instance_uid=uid).values_list("patient_id", flat=True).first()
    if owner is not None and owner != patient.pk:
        reject_all("study_conflict", "This study is linked to another patient.")
        return False
    series_uids = {item.info.series_instance_uid for item in items if item.info is not None}
    if ImagingSeries.objects.filter(series_instance_uid__in=series_uids).exclude(study__study_instance_uid=uid).exists():
        reject_all("series_conflict", "A series of this study belongs to another study.")
        return False
    mismatch = any(item.info is not None and item.info.patient_id != patient.mrn for item in items)
    if owner is None:
        pacs_ids = {_text(i, "00100020", 64) for i in _qido_studies_by_uid(client, [uid]).get(uid, [])}
        for pacs_id in sorted(pacs_ids - {patient.mrn}):
            if _other_patient_allowed(pid=pacs_id, patient=patient, relink_from=relink_from) is False:
                reject_all("study_conflict", "This study is filed under another patient in the PACS.")
                return False
            if not confirm_relink:
                reject_all(
                    "patient_mismatch", "The PACS holds this study under a different patient ID.",
                    {"dicom_patient_id": pacs_id, "mrn": patient.mrn, "where": "pacs"},
                )
                return False
            mismatch = True
    return mismatch


def _stow(*, client: DICOMwebClient, uid: str, items: list[_Item]) -> None:
    """Send one study in batches of bounded size; mark each file stored or failed."""
    batch: list[_Item] = []
    size = 0

    def send() -> bool:
        datasets = [pydicom.dcmread(item.path) for item in batch if item.path is not None]
        try:
            answer = client.store_instances(datasets=datasets, study_instance_uid=uid)
        except (requests.RequestException, ValueError) as exc:
            logger.warning("STOW-RS failed: %s", type(exc).__name__)
            for item in batch:
                item.result.reject("pacs_error", "The PACS did not store this file.", status="failed")
            return False
        failed = {
            str(entry.get("ReferencedSOPInstanceUID", "")): int(entry.get("FailureReason", 0) or 0)
            for entry in getattr(answer, "FailedSOPSequence", []) or []
        }
        for item in batch:
            sop = item.result.sop_instance_uid or ""
            if sop in failed:
                item.result.reject("pacs_error", "The PACS did not store this file.", {"failure_reason": failed[sop]}, status="failed")
            else:
                item.result.status, item.result.code, item.result.message = "stored", None, ""
        return not failed

    for item in items:
        batch.append(item)
        size += item.info.size if item.info else 0
        if size >= settings.IMAGING_STOW_BATCH_BYTES:
            if not send():
                break
            batch, size = [], 0
    else:
        if batch:
            send()
    for item in items:
        if item.result.status == "pending":
            item.result.reject("pacs_error", "Not sent: an earlier batch of this study failed.", status="failed")


def imaging_upload(
    *,
    actor: Any,
    patient: Patient,
    sources: Sequence[UploadSource],
    confirm_relink: bool = False,
    relink_from: Patient | None = None,
    link_source: str = LinkSource.UPLOAD,
    request: Any = None,
) -> UploadReport:
    """Validate every file, then send each fully valid study by STOW-RS and link it.

    A file whose PatientID differs from the MRN is stored only with ``confirm_relink``; if that
    PatientID is another patient's MRN, only when ``relink_from`` is that patient as well.
    """
    with tempfile.TemporaryDirectory(prefix="cdss-upload-") as tmp:
        items = list(_upload_items(sources, Path(tmp)))
        if not items:
            raise ValidationFailed("No files were uploaded.", code="no_files")
        for item in items:
            if item.path is not None and item.result.status == "pending":
                _validate(item)
        seen_sops: set[str] = set()
        foreign: dict[str, bool | None] = {}
        for item in items:
            if item.info is None or item.result.status != "pending":
                continue
            if item.info.sop_instance_uid in seen_sops:
                item.result.reject("duplicate_instance", "The same SOPInstanceUID appears twice in this upload.")
            seen_sops.add(item.info.sop_instance_uid)
            if item.info.patient_id == patient.mrn:
                continue
            other = foreign.setdefault(
                item.info.patient_id, _other_patient_allowed(pid=item.info.patient_id, patient=patient, relink_from=relink_from)
            )
            if other is False:
                item.result.reject(
                    "study_conflict", "The file's PatientID is another patient's MRN; name that patient to relink it.",
                    {"where": "file"},
                )
            elif not confirm_relink:
                item.result.reject(
                    "patient_mismatch", "The file's PatientID is not this patient's MRN.",
                    {"dicom_patient_id": item.info.patient_id, "mrn": patient.mrn, "where": "file"},
                )
        series_study: dict[str, str] = {}
        for item in items:
            if item.info is not None and item.result.status == "pending":
                first = series_study.setdefault(item.info.series_instance_uid, item.info.study_instance_uid)
                if first != item.info.study_instance_uid:
                    item.result.reject("invalid_uid", "A series appears in two studies in this upload.")
        by_study: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            if item.result.study_instance_uid and item.result.status != "skipped":
                by_study[item.result.study_instance_uid].append(item)
        unattributed = any(not i.result.study_instance_uid and i.result.status == "rejected" for i in items)
        client = dicomweb_client_build()
        studies: list[StudyResult] = []
        for uid, study_items in by_study.items():
            failed = any(i.result.status != "pending" for i in study_items)
            mismatch = False
            if not failed and not unattributed:
                mismatch = _check_study(
                    uid=uid, items=study_items, patient=patient, confirm_relink=confirm_relink, client=client,
                    relink_from=relink_from,
                )
                failed = any(i.result.status != "pending" for i in study_items)
            if failed or unattributed:
                code, message = (
                    ("upload_incomplete", "Not sent: another file of this upload could not be read.")
                    if unattributed and not failed
                    else ("study_incomplete", "Not sent: another file of this study was rejected.")
                )
                for item in study_items:
                    if item.result.status == "pending":
                        item.result.reject(code, message, status="not_sent")
                studies.append(StudyResult(study_instance_uid=uid, status="rejected", files=len(study_items)))
                continue
            _stow(client=client, uid=uid, items=study_items)
            stored = sum(1 for i in study_items if i.result.status == "stored")
            result = StudyResult(
                study_instance_uid=uid, files=len(study_items), mismatch_confirmed=mismatch,
                status="stored" if stored == len(study_items) else "partial" if stored else "failed",
            )
            if stored:
                dicom_ids = sorted({i.info.patient_id for i in study_items if i.info is not None})
                study, _created = imaging_study_link(
                    actor=actor, patient=patient, study_instance_uid=uid, source=link_source,
                    dicom_patient_id=next((pid for pid in dicom_ids if pid != patient.mrn), patient.mrn),
                    mismatch_confirmed=mismatch, request=request,
                )
                imaging_study_refresh(study=study, client=client)
                result.imaging_study_id = study.pk
            studies.append(result)
    report = UploadReport(files=[item.result for item in items], studies=studies)
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="imaging_upload", patient_id=patient.pk,
        outcome=AuditOutcome.SUCCESS if report.stored else AuditOutcome.FAILED, request=request,
        detail={
            "files": len(report.files), "stored": report.stored, "rejected": report.problems,
            "imaging_study_ids": [s.imaging_study_id for s in studies if s.imaging_study_id],
        },
    )
    return report


def upload_sources_from_paths(paths: Iterable[Path]) -> list[UploadSource]:
    """Every regular file under the given files or folders, in a stable order (for imports)."""
    found: list[UploadSource] = []
    for path in paths:
        if path.is_dir():
            found.extend(UploadSource(name=str(p.relative_to(path)), path=p) for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            found.append(UploadSource(name=path.name, path=path))
    return found
