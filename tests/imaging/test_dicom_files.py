"""The project's own DICOM files read back as written: 8-bit grey pixels, a file meta naming the instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from imaging.dicom_files import dataset_save, grey8_pixels_set


def test_grey_image_round_trips(tmp_path: Path) -> None:
    pixels = (np.arange(12 * 7, dtype=np.uint8).reshape(12, 7) * 3).astype(np.uint8)
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    grey8_pixels_set(ds, pixels)
    dataset_save(ds, tmp_path / "one.dcm")

    back = pydicom.dcmread(tmp_path / "one.dcm")
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.MediaStorageSOPClassUID == SecondaryCaptureImageStorage
    assert (back.Rows, back.Columns, back.PhotometricInterpretation, back.BitsStored) == (12, 7, "MONOCHROME2", 8)
    assert np.array_equal(back.pixel_array, pixels)
