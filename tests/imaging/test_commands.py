"""Management commands: demo_load_imaging, import_dicom (DICOM and NIfTI), imaging_sync."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.uid import generate_uid

from imaging.demo import DEMO_DATA, _uid
from imaging.models import ImagingSeries, ImagingStudy
from tests.conftest import World
from tests.imaging.conftest import Orthanc, ct_dataset, dicom_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_demo_data_is_small_attributed_and_self_contained() -> None:
    total = sum(p.stat().st_size for p in DEMO_DATA.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024
    readme = (DEMO_DATA / "README.md").read_text()
    for needle in ("Apache-2.0", "CC BY 4.0", "Wasserthal", "Kermany", "IRCADb"):
        assert needle in readme
    manifest = json.loads((DEMO_DATA / "manifest.json").read_text())
    for entry in manifest["studies"]:
        assert (DEMO_DATA / (entry.get("folder") or entry["image"])).exists()
    assert "/work/shared" not in (Path(__file__).parents[2] / "imaging" / "demo.py").read_text()


@pytest.fixture
def demo_cleanup() -> Iterator[Orthanc]:
    pacs = Orthanc()
    manifest = json.loads((DEMO_DATA / "manifest.json").read_text())
    pacs.created.update(_uid(entry["key"], "study") for entry in manifest["studies"])
    yield pacs
    pacs.cleanup()


def test_demo_load_imaging(db: object, demo_cleanup: Orthanc) -> None:
    call_command("demo_seed", stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_load_imaging", stdout=out)
    ct = ImagingStudy.objects.get(study_instance_uid=_uid("ct-abdomen", "study"))
    assert ct.patient.mrn == "DEMO-0001" and ct.dicom_patient_id == "DEMO-0001"
    modalities = dict(ct.series.values_list("modality", "number_of_instances"))
    assert modalities == {"CT": 20, "SEG": 1}
    assert ct.series.get(modality="CT").body_part == "PARTIALBODY"
    xrays = ImagingStudy.objects.exclude(pk=ct.pk)
    # An adult's radiograph (the model's abstention) and the children's (its population).
    assert sorted(xrays.values_list("patient__mrn", flat=True)) == ["DEMO-0002", "DEMO-0005", "DEMO-0006", "DEMO-0006"]
    assert xrays.count() == 4 and set(ImagingSeries.objects.filter(study__in=xrays).values_list("modality", flat=True)) == {"DX"}
    assert demo_cleanup.instance_count(ct.study_instance_uid) == 21
    # The stored copies carry the demo identity, not the source's.
    records = demo_cleanup.study_records(ct.study_instance_uid)
    assert {r["00100020"]["Value"][0] for r in records} == {"DEMO-0001"}
    # Stored decompressed, so the PACS can render it (Orthanc 1.10 cannot decode JPEG 2000).
    ct_series = ct.series.get(modality="CT").series_instance_uid
    rendered = demo_cleanup.session.get(f"{orthanc_url()}/studies/{ct.study_instance_uid}/series/{ct_series}/rendered", timeout=60)
    assert rendered.status_code == 200 and rendered.headers["Content-Type"] == "image/jpeg"
    # Idempotent: a second run stores nothing new.
    again = io.StringIO()
    call_command("demo_load_imaging", stdout=again)
    assert "already-loaded" in again.getvalue() and "failed" not in again.getvalue()
    assert ImagingStudy.objects.count() == 5 and demo_cleanup.instance_count(ct.study_instance_uid) == 21


def test_demo_load_needs_the_demo_patients(db: object) -> None:
    with pytest.raises(CommandError, match="demo_seed"):
        call_command("demo_load_imaging", stdout=io.StringIO())


def write_series(folder: Path, patient_id: str, n: int = 3) -> tuple[str, str]:
    study, series = generate_uid(), generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{i}.dcm").write_bytes(dicom_bytes(ct_dataset(study=study, series=series, patient_id=patient_id, instance_number=i + 1)))
    return study, series


def test_import_dicom_folder_and_zip(world: World, orthanc: Orthanc, tmp_path: Path) -> None:
    study, _series = write_series(tmp_path / "folder", world.patient.mrn)
    orthanc.created.add(study)
    out = io.StringIO()
    call_command("import_dicom", str(tmp_path / "folder"), "--patient", world.patient.mrn, stdout=out)
    assert "stored 3 file(s)" in out.getvalue()
    assert ImagingStudy.objects.get(study_instance_uid=study).link_source == "import"
    other, _series = write_series(tmp_path / "other", "ELSEWHERE-9", n=2)
    orthanc.created.add(other)
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((tmp_path / "other").iterdir()):
            zf.write(p, p.name)
    with pytest.raises(CommandError, match="not stored"):
        call_command("import_dicom", str(archive), "--patient", world.patient.mrn, stdout=io.StringIO())
    assert orthanc.study_records(other) == []
    call_command("import_dicom", str(archive), "--patient", world.patient.mrn, "--confirm-relink", stdout=io.StringIO())
    assert ImagingStudy.objects.get(study_instance_uid=other).mismatch_confirmed


def reference_series(world: World, orthanc: Orthanc, tmp_path: Path, slices: int = 4) -> tuple[str, str, list[pydicom.Dataset]]:
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for k in range(slices):
        ds = ct_dataset(study=study, series=series, patient_id=world.patient.mrn, rows=8, columns=10, instance_number=k + 1)
        ds.ImagePositionPatient = [-10.0, -20.0, 2.0 * k]  # LPS, 2 mm apart
        ds.PixelSpacing = [1.5, 1.0]  # between rows, between columns
        ds.FrameOfReferenceUID = frame_of_reference
        datasets.append(ds)
    orthanc.stow(datasets)
    (tmp_path / "ref").mkdir()
    call_command("imaging_sync", "--patient", world.patient.mrn, stdout=io.StringIO())
    return study, series, datasets


def ras_affine() -> np.ndarray:
    """The NIfTI grid equal to the reference's: voxel (i=column, j=row, k=slice) in RAS."""
    affine = np.diag([-1.0, -1.5, 2.0, 1.0])  # LPS -> RAS flips x and y
    affine[:3, 3] = [10.0, 20.0, 0.0]
    return affine


def test_import_nifti_labelmap_as_seg(world: World, orthanc: Orthanc, tmp_path: Path) -> None:
    study, series, _datasets = reference_series(world, orthanc, tmp_path)
    labels = np.zeros((10, 8, 4), dtype=np.uint8)  # (columns, rows, slices)
    labels[2:5, 1:3, 1] = 5  # a small "liver" block on slice 1
    labels[6, 6, 3] = 7
    path = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image(labels, ras_affine()), path)
    (tmp_path / "labels.csv").write_text("label,name\n5,liver\n7,spleen\n")
    out = io.StringIO()
    call_command("import_dicom", str(path), "--patient", world.patient.mrn, "--reference-series", series,
                 "--labels", str(tmp_path / "labels.csv"), "--algorithm", "TestNet", stdout=out)
    assert "DICOM Segmentation" in out.getvalue()
    seg_series = ImagingSeries.objects.get(study__study_instance_uid=study, modality="SEG")
    retrieved = orthanc.session.get(
        f"{orthanc_url()}/studies/{study}/series/{seg_series.series_instance_uid}",
        headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=30,
    )
    seg = pydicom.dcmread(io.BytesIO(retrieved.content.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]))
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver", "spleen"]
    import highdicom as hd

    decoded = hd.seg.Segmentation.from_dataset(seg)
    volume = decoded.get_volume(combine_segments=True)
    assert int((volume.array == 1).sum()) == 3 * 2 and int((volume.array == 2).sum()) == 1


def orthanc_url() -> str:
    from django.conf import settings

    return str(settings.DICOMWEB_URL)


def test_import_nifti_intensities_as_images(world: World, orthanc: Orthanc, tmp_path: Path) -> None:
    study, series, datasets = reference_series(world, orthanc, tmp_path)
    values = np.zeros((10, 8, 4), dtype=np.float32)
    values[3, 2, 2] = 123.5
    values[..., 0] = -40.25
    path = tmp_path / "map.nii.gz"
    nib.save(nib.Nifti1Image(values, ras_affine()), path)
    call_command("import_dicom", str(path), "--patient", world.patient.mrn, "--reference-series", series,
                 "--description", "perfusion map", stdout=io.StringIO())
    derived = ImagingSeries.objects.get(study__study_instance_uid=study, description="perfusion map")
    assert derived.number_of_instances == 4
    instances = orthanc.session.get(f"{orthanc_url()}/studies/{study}/series/{derived.series_instance_uid}/instances",
                                    headers={"Accept": "application/dicom+json"}, timeout=30).json()
    assert len(instances) == 4
    meta = orthanc.session.get(f"{orthanc_url()}/studies/{study}/series/{derived.series_instance_uid}/metadata", timeout=30).json()
    by_position = sorted(meta, key=lambda m: float(m["00200032"]["Value"][2]))
    assert [m["00200032"]["Value"] for m in by_position] == [list(d.ImagePositionPatient) for d in datasets]
    # Values come back through RescaleSlope/Intercept at the right voxel: slice 2, row 2, column 3.
    sop = by_position[2]["00080018"]["Value"][0]
    part = orthanc.session.get(f"{orthanc_url()}/studies/{study}/series/{derived.series_instance_uid}/instances/{sop}",
                               headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=30).content
    ds = pydicom.dcmread(io.BytesIO(part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]))
    real = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert abs(real[2, 3] - 123.5) < 0.01 and abs(real[0, 0]) < 0.01


def test_nifti_needs_a_linked_reference(world: World, tmp_path: Path) -> None:
    path = tmp_path / "x.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)), path)
    with pytest.raises(CommandError, match="reference-series"):
        call_command("import_dicom", str(path), "--patient", world.patient.mrn, stdout=io.StringIO())
    with pytest.raises(CommandError, match="series_not_found"):
        call_command("import_dicom", str(path), "--patient", world.patient.mrn, "--reference-series", "1.2.3", stdout=io.StringIO())
