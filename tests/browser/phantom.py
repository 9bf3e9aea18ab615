"""A small synthetic abdominal CT (pydicom, generated here): air, body, liver with a lesion,
spine, and lungs in the upper slices, in Hounsfield units. No real patient data."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import requests
from django.conf import settings
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AIR, LUNG, FAT, SOFT, LIVER, LESION, BONE = -1000, -850, -90, 40, 60, 15, 700


def phantom_volume(size: int = 64, slices: int = 24) -> np.ndarray:
    """HU values, shape (slices, rows, columns); slice 0 is the most caudal."""
    z, y, x = np.mgrid[0:slices, 0:size, 0:size].astype(np.float32)
    cy, cx = size / 2, size / 2
    volume = np.full((slices, size, size), AIR, dtype=np.int16)
    body = ((x - cx) / (size * 0.45)) ** 2 + ((y - cy) / (size * 0.36)) ** 2 <= 1
    volume[body] = FAT
    inner = ((x - cx) / (size * 0.40)) ** 2 + ((y - cy) / (size * 0.31)) ** 2 <= 1
    volume[inner] = SOFT
    # The liver on the patient's right (image left), shrinking towards the feet.
    liver = (((x - size * 0.34) / (size * 0.2)) ** 2 + ((y - size * 0.45) / (size * 0.2)) ** 2 <= (0.4 + 0.6 * z / slices))
    volume[liver & inner] = LIVER
    lesion = ((x - size * 0.30) ** 2 + (y - size * 0.42) ** 2 + (z - slices * 0.6) ** 2) <= (size * 0.06) ** 2
    volume[lesion & inner] = LESION
    spine = ((x - cx) ** 2 + (y - size * 0.72) ** 2) <= (size * 0.07) ** 2
    volume[spine] = BONE
    lungs = (z >= slices * 0.7) & inner & (np.abs(x - cx) > size * 0.1) & (y < size * 0.62) & ~spine
    volume[lungs] = LUNG
    return volume


@dataclass
class PhantomStudy:
    study_uid: str
    series_uid: str
    datasets: list[Dataset]


def ct_phantom(*, patient_id: str, size: int = 64, slices: int = 24, spacing: float = 2.5) -> PhantomStudy:
    volume = phantom_volume(size, slices)
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for index in range(slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.PatientID = patient_id
        ds.PatientName = "Phantom^Synthetic"
        ds.PatientBirthDate = "19650412"
        ds.PatientSex = "M"
        ds.Modality = "CT"
        ds.BodyPartExamined = "ABDOMEN"
        ds.StudyDate = ds.SeriesDate = "20250102"
        ds.StudyTime = "101500"
        ds.StudyDescription = "CT abdomen (synthetic phantom)"
        ds.SeriesDescription = "Portal venous 2.5 mm"
        ds.StudyID = "1"
        ds.AccessionNumber = "PH0001"
        ds.SeriesNumber = 2
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [-size * 0.75 / 2, -size * 0.75 / 2, index * spacing]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceLocation = index * spacing
        ds.SliceThickness = spacing
        ds.PixelSpacing = [0.75, 0.75]
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, 0, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelData = volume[index].astype("<i2").tobytes()
        datasets.append(ds)
    return PhantomStudy(study_uid, series_uid, datasets)


def dicom_file_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def orthanc_delete_study(study_uid: str) -> None:
    """Remove a study from the test PACS through Orthanc's own REST API (test clean-up only)."""
    root = settings.DICOMWEB_URL.rsplit("/dicom-web", 1)[0]
    session = requests.Session()
    session.trust_env = False
    session.auth = (settings.DICOMWEB_USERNAME or "", settings.DICOMWEB_PASSWORD or "")
    for entry in session.post(f"{root}/tools/lookup", data=study_uid, timeout=30).json():
        if entry.get("Type") == "Study":
            session.delete(f"{root}/studies/{entry['ID']}", timeout=60)


def seg_for_phantom(phantom: PhantomStudy, *, size: int = 64) -> Dataset:
    """A DICOM SEG of the phantom's liver (1) and lesion (2), as an AI model would write back."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    volume = np.stack([ds.pixel_array for ds in phantom.datasets])
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[volume == LIVER] = 1
    labels[volume == LESION] = 2
    algorithm = hd.AlgorithmIdentificationSequence(name="phantom-truth", version="1", family=codes.DCM.ArtificialIntelligence)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=label, segmented_property_category=codes.SCT.Organ,
            segmented_property_type=code, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label, code in ((1, "Liver", codes.SCT.Liver), (2, "Lesion", codes.SCT.Neoplasm))
    ]
    return hd.seg.Segmentation(
        source_images=phantom.datasets, pixel_array=labels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=99,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="CDSS tests", manufacturer_model_name="phantom",
        software_versions="1", device_serial_number="0", series_description="Liver segmentation (AI)",
    )
