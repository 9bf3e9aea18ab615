"""The DICOM file validator on its own: each refusal and its stable code (no PACS involved)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from imaging.validation import DicomRejected, dicom_file_validate
from tests.imaging.conftest import BAD_KINDS, bad_file, ct_dataset, dicom_bytes

GIB = 1024**3


def validate(tmp_path: Path, data: bytes, max_bytes: int = GIB) -> object:
    path = tmp_path / "file.dcm"
    path.write_bytes(data)
    return dicom_file_validate(path=path, max_bytes=max_bytes)


def rejected_code(tmp_path: Path, data: bytes, max_bytes: int = GIB) -> str:
    with pytest.raises(DicomRejected) as info:
        validate(tmp_path, data, max_bytes)
    return info.value.code


def test_a_good_file_passes(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    info = validate(tmp_path, dicom_bytes(ds))
    assert info.study_instance_uid == ds.StudyInstanceUID  # type: ignore[attr-defined]
    assert info.patient_id == "MRN-1" and info.modality == "CT"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", [k for k in BAD_KINDS if k != "patient_mismatch"])
def test_bad_files_are_refused_with_their_code(tmp_path: Path, kind: str) -> None:
    data = bad_file(kind, study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    assert rejected_code(tmp_path, data) == BAD_KINDS[kind]


def test_every_truncation_point_is_refused(tmp_path: Path) -> None:
    """Cut a valid file anywhere from its meta header on: never accepted, never a crash."""
    data = dicom_bytes(ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1"))
    codes = {rejected_code(tmp_path, data[:cut]) for cut in range(0, len(data) - 1, 7)}
    assert codes <= {"not_dicom", "truncated", "malformed", "missing_uid", "missing_pixel_data", "invalid_length",
                     "missing_modality", "invalid_uid", "empty_file", "invalid_pixel_data"}


def test_empty_and_oversized_files(tmp_path: Path) -> None:
    assert rejected_code(tmp_path, b"") == "empty_file"
    data = dicom_bytes(ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1"))
    assert rejected_code(tmp_path, data, max_bytes=100) == "file_too_large"


def test_pixel_data_shorter_than_described(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    ds.PixelData = ds.PixelData[:100]
    assert rejected_code(tmp_path, dicom_bytes(ds)) == "invalid_pixel_data"


def test_missing_modality(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    del ds.Modality
    assert rejected_code(tmp_path, dicom_bytes(ds)) == "missing_modality"


def test_a_report_needs_no_pixels(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"):
        delattr(ds, keyword)
    ds.Modality = "SR"
    assert validate(tmp_path, dicom_bytes(ds)).modality == "SR"  # type: ignore[attr-defined]


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_other_native_transfer_syntaxes(tmp_path: Path, syntax: str) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, little_endian=syntax != ExplicitVRBigEndian, implicit_vr=syntax == ImplicitVRLittleEndian)
    assert validate(tmp_path, buffer.getvalue()).transfer_syntax_uid == syntax  # type: ignore[attr-defined]


def test_deflate_is_refused(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert rejected_code(tmp_path, buffer.getvalue()) == "unsupported_transfer_syntax"


def encapsulated_file() -> bytes:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(range(200)) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return dicom_bytes(ds)


def test_encapsulated_pixel_data(tmp_path: Path) -> None:
    data = encapsulated_file()
    assert validate(tmp_path, data).transfer_syntax_uid == JPEGBaseline8Bit  # type: ignore[attr-defined]
    # pydicom alone silently drops a cut-off fragment; the structural walk does not.
    assert rejected_code(tmp_path, data[:-20]) == "truncated"
    assert rejected_code(tmp_path, data[:-8]) == "truncated"  # the sequence delimiter is missing


def test_nested_sequences_are_walked(tmp_path: Path) -> None:
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1")
    inner = pydicom.Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator, inner.CodeMeaning = "123", "99TEST", "x" * 40
    item = pydicom.Dataset()
    item.ReferencedSOPInstanceUID = generate_uid()
    item.PurposeOfReferenceCodeSequence = [inner]
    ds.SourceImageSequence = [item]
    data = dicom_bytes(ds)
    assert validate(tmp_path, data)
    index = data.index(b"x" * 40)
    broken = bytearray(data)
    broken[index - 2 : index] = (0xFFF0).to_bytes(2, "little")  # CodeMeaning length inside the sequence
    assert rejected_code(tmp_path, bytes(broken)) in ("invalid_length", "truncated")


def test_pixel_bytes_are_not_read_into_memory(tmp_path: Path) -> None:
    """A large file validates without its pixel data being loaded (pydicom stops before it)."""
    ds = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id="MRN-1", rows=512, columns=512, frames=40)
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    import tracemalloc

    tracemalloc.start()
    try:
        dicom_file_validate(path=path, max_bytes=GIB)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 20 * 1024 * 1024 and peak < 2 * 1024 * 1024
    assert np.frombuffer(ds.PixelData, dtype=np.uint16).size == 40 * 512 * 512
