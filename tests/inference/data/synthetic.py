"""Synthetic CT inputs for the imaging tests (generated, not real patients)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def phantom_hu(*, nz: int = 4, ny: int = 64, nx: int = 64, seed: int = 0) -> NDArray[np.int16]:
    """A water-filled body ellipse (air outside) with a brighter 'liver' blob and a darker spot: (z, y, x) HU."""
    rng = np.random.default_rng(seed)
    _, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    body = ((y - ny / 2) / (ny * 0.42)) ** 2 + ((x - nx / 2) / (nx * 0.45)) ** 2 <= 1
    organ = ((y - ny * 0.45) / (ny * 0.18)) ** 2 + ((x - nx * 0.35) / (nx * 0.16)) ** 2 <= 1
    spot = ((y - ny * 0.45) / (ny * 0.05)) ** 2 + ((x - nx * 0.35) / (nx * 0.05)) ** 2 <= 1
    hu = np.full((nz, ny, nx), -1000.0)
    hu[body] = 20.0
    hu[organ] = 110.0
    hu[spot] = 40.0
    hu += rng.normal(0, 8, hu.shape)
    return np.rint(hu).astype(np.int16)


def ct_series_datasets(
    hu: NDArray[np.int16], *, spacing: tuple[float, float, float] = (5.0, 3.0, 3.0)
) -> list[FileDataset]:
    """A complete single-series axial CT (one dataset per z slice, z ascending), rescale intercept -1024."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for k in range(hu.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset("synthetic.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
            "Phantom^Test",
            "PHANTOM1",
            "19700101",
            "O",
        )
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", "A1"
        ds.ReferringPhysicianName, ds.Manufacturer = "", "synthetic"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-100.0, -80.0, 10.0 + k * spacing[0]]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.PixelData = (hu[k].astype(np.int32) + 1024).astype(np.int16).tobytes()
        out.append(ds)
    return out


def ct_series_write(folder: Path, datasets: list[FileDataset], *, shuffle: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    order = list(range(len(datasets)))
    if shuffle:  # file order must not matter: the reader sorts by position
        order = order[::-1]
    for n, k in enumerate(order):
        pydicom.dcmwrite(folder / f"slice_{n:03d}.dcm", datasets[k], enforce_file_format=True)
