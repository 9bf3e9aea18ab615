"""Load the committed demo images (imaging/demo_data) into the PACS and link them to demo patients.

The files in the repository stay verbatim; each load writes copies with the demo patient's
identity (PatientID = MRN) and deterministic UIDs, then sends them through the same validation
and STOW-RS path as an upload. Loading twice changes nothing: studies already complete in the
PACS are skipped.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from cdss.core.errors import NotFound
from imaging.dicom_files import dataset_save, grey8_pixels_set
from imaging.dicomweb.client import dicomweb_client_build
from imaging.models import ImagingSeries, ImagingStudy, LinkSource
from imaging.nifti import labels_read, nifti_import
from imaging.services import UploadSource, imaging_study_refresh, imaging_upload
from patients.models import Patient

DEMO_DATA = Path(__file__).resolve().parent / "demo_data"
_UID_SEED = "cdss-demo-imaging-v1"


@dataclass
class DemoLoaded:
    key: str
    mrn: str
    study_instance_uid: str
    status: str  # loaded | already-loaded | failed
    instances: int = 0
    detail: str = ""


def _uid(*parts: str) -> str:
    return str(generate_uid(entropy_srcs=[_UID_SEED, *parts]))


def _identity(ds: Dataset, patient: Patient, entry: dict[str, Any]) -> None:
    ds.PatientID = patient.mrn
    ds.PatientName = f"{patient.family_name}^{patient.given_name}"
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = {"male": "M", "female": "F"}.get(patient.sex, "O")
    ds.StudyInstanceUID = _uid(entry["key"], "study")
    ds.StudyDescription = entry["study_description"]
    ds.AccessionNumber = entry["accession_number"]
    ds.StudyID = entry["accession_number"][-8:]
    ds.ReferringPhysicianName = ""


def _ct_copies(entry: dict[str, Any], patient: Patient, workdir: Path) -> list[Path]:
    paths = []
    for source in sorted((DEMO_DATA / entry["folder"]).glob("CT.*")):
        ds = pydicom.dcmread(source)
        # JPEG 2000 lossless in the source; Orthanc 1.10 cannot decode it (no rendered images, no
        # transcoding for viewers that ask for uncompressed frames), so store it decompressed
        # (pydicom decodes through Pillow's OpenJPEG; lossless, so the pixels are the same).
        ds.decompress()
        _identity(ds, patient, entry)
        # The source blanked its UIDs; the file meta still names the instance.
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = _uid(entry["key"], "series")
        ds.SeriesNumber = 1
        ds.StudyTime = "140000"
        dest = workdir / source.name
        ds.save_as(dest, enforce_file_format=True)
        paths.append(dest)
    return paths


def _xray_copy(entry: dict[str, Any], patient: Patient, workdir: Path) -> list[Path]:
    source = DEMO_DATA / entry["image"]
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.uint8)
    ds = Dataset()
    _identity(ds, patient, entry)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = _uid(entry["key"], "instance")
    ds.SeriesInstanceUID = _uid(entry["key"], "series")
    ds.Modality = "DX"
    ds.ConversionType = "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "AP"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = entry["study_date"]
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "100000"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SeriesDescription = "Chest AP"
    ds.DerivationDescription = "Resized 224x224 JPEG (Kermany et al., CC BY 4.0) converted to 8-bit greyscale"
    grey8_pixels_set(ds, pixels)
    dest = workdir / f"{entry['key']}.dcm"
    dataset_save(ds, dest)
    return [dest]


def _instances_in_pacs(study_uid: str) -> int:
    found = dicomweb_client_build().search_for_studies(search_filters={"StudyInstanceUID": study_uid}, fields=["NumberOfStudyRelatedInstances"])
    return sum(int((item.get("00201208", {}).get("Value") or [0])[0]) for item in found)


def _segmentation(entry: dict[str, Any], patient: Patient, study: ImagingStudy) -> str:
    spec = entry.get("segmentation")
    if not spec or study.series.filter(modality="SEG").exists():
        return ""
    reference = ImagingSeries.objects.get(study=study, series_instance_uid=_uid(entry["key"], "series"))
    _kind, report = nifti_import(
        path=DEMO_DATA / spec["nifti"], patient=patient, reference_series_uid=reference.series_instance_uid, kind="seg",
        labels=labels_read(DEMO_DATA / spec["labels"]), algorithm=spec["algorithm"], description=spec["description"],
    )
    return f"segmentation: {report.stored} stored"


def demo_imaging_load(*, say: Callable[[str], None] = print) -> list[DemoLoaded]:
    manifest = json.loads((DEMO_DATA / "manifest.json").read_text())
    results: list[DemoLoaded] = []
    for entry in manifest["studies"]:
        patient = Patient.objects.filter(mrn=entry["mrn"]).first()
        if patient is None:
            raise NotFound(f"Demo patient {entry['mrn']} does not exist; run `manage.py demo_seed` first.", code="demo_patient_missing")
        study_uid = _uid(entry["key"], "study")
        with tempfile.TemporaryDirectory(prefix="cdss-demo-") as tmp:
            workdir = Path(tmp)
            paths = _ct_copies(entry, patient, workdir) if entry["kind"] == "dicom" else _xray_copy(entry, patient, workdir)
            linked = ImagingStudy.objects.filter(study_instance_uid=study_uid, patient=patient).first()
            if linked is not None and _instances_in_pacs(study_uid) >= len(paths):
                imaging_study_refresh(study=linked)
                result = DemoLoaded(entry["key"], entry["mrn"], study_uid, "already-loaded", len(paths))
            else:
                report = imaging_upload(
                    actor=None, patient=patient, link_source=LinkSource.DEMO,
                    sources=[UploadSource(name=p.name, path=p) for p in paths],
                )
                status = "loaded" if report.stored == len(paths) else "failed"
                codes = sorted({f.code for f in report.files if f.code})
                result = DemoLoaded(entry["key"], entry["mrn"], study_uid, status, report.stored, ", ".join(codes))
        study = ImagingStudy.objects.filter(study_instance_uid=study_uid).first()
        if study is not None and result.status != "failed":
            extra = _segmentation(entry, patient, study)
            result.detail = "; ".join(filter(None, [result.detail, extra]))
        say(f"  {result.mrn}  {entry['key']:<26} {result.status:<15} {result.instances:>3} instance(s) {result.detail}".rstrip())
        results.append(result)
    return results

