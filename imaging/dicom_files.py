"""Writing DICOM files the project makes itself (demo images, filed intake images, images
rebuilt from NIfTI): one uncompressed transfer syntax, a file meta that names the instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian


def grey8_pixels_set(ds: Dataset, pixels: NDArray[Any]) -> None:
    """Set ``pixels`` (2-D uint8) as the instance's single-frame MONOCHROME2 image."""
    grey = np.ascontiguousarray(pixels, dtype=np.uint8)
    ds.Rows, ds.Columns = grey.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = grey.tobytes()


def dataset_save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a DICOM file in Explicit VR Little Endian."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
