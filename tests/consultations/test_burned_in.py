"""Burned-in annotation: pixels that may show identifying text never leave through a
de-identified share as stored. Canary pixels (text drawn where devices write banners) must read
black after de-identification; what cannot be masked is withheld with a message."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

from imaging.deid import (
    BAND_FRACTION,
    BURNED_IN_WITHHELD,
    burned_in_risk,
    burned_in_risk_json,
    dataset_deidentify,
    pixels_withheld_for_series,
)
from imaging.models import ImagingSeries, ImagingStudy, LinkSource
from tests.consultations.conftest import CANARY, Consult, open_consultation
from tests.imaging.conftest import Orthanc, proxy_fetch

ROWS, COLUMNS = 100, 80
TEXT = 200  # the canary "text" value
TISSUE = 90


def _image(*, modality: str = "OT", sop_class: str = SecondaryCaptureImageStorage, rows: int = ROWS,
           columns: int = COLUMNS, bits: int = 8, samples: int = 1, photometric: str = "MONOCHROME2",
           burned_in: str | None = None, study: str | None = None, series: str | None = None) -> Dataset:
    """An image whose top and bottom rows carry canary text and whose middle is tissue."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.PatientName = "Canarywhistle^Zebulon"
    ds.PatientID = CANARY["mrn"]
    ds.Modality = modality
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    pixels = np.full((rows, columns, samples), TISSUE, dtype=np.uint8 if bits == 8 else np.uint16)
    pixels[2:6, 5:60] = TEXT  # a banner line at the top: "ZEBULON CANARYWHISTLE"
    pixels[rows - 6:rows - 2, 5:60] = TEXT  # and one at the bottom: the MRN and date
    ds.PixelData = pixels.tobytes()
    return ds


def _roundtrip(ds: Dataset) -> Dataset:
    """Saved and read back, as the proxy does with each relayed instance."""
    clean = dataset_deidentify(ds, pseudonym="PX-TEST")
    clean.file_meta = FileMetaDataset()
    clean.file_meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
    clean.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    clean.file_meta.MediaStorageSOPInstanceUID = clean.SOPInstanceUID
    buffer = BytesIO()
    clean.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(BytesIO(buffer.getvalue()))


def _band() -> int:
    return max(1, round(ROWS * BAND_FRACTION))


def test_secondary_capture_text_bands_read_black_after_deidentification() -> None:
    out = _roundtrip(_image())
    pixels = out.pixel_array
    band = _band()
    assert int(pixels[:band].max()) == 0 and int(pixels[ROWS - band:].max()) == 0
    assert (pixels == TEXT).sum() == 0  # the canary text is gone everywhere
    assert int(pixels[ROWS // 2, COLUMNS // 2]) == TISSUE  # the image itself is kept
    assert "burned-in text masked: top and bottom bands" in out.DeidentificationMethod and "ImageComments" not in out


@pytest.mark.parametrize(("modality", "sop_class", "burned_in"), [
    ("SC", SecondaryCaptureImageStorage, None),
    ("OT", SecondaryCaptureImageStorage, None),
    ("US", UltrasoundImageStorage, "NO"),  # ultrasound is masked whatever the attribute says
    ("CT", "1.2.840.10008.5.1.4.1.1.2", "YES"),
])
def test_every_burned_in_class_is_masked(modality: str, sop_class: str, burned_in: str | None) -> None:
    ds = _image(modality=modality, sop_class=sop_class, burned_in=burned_in)
    assert burned_in_risk(ds)
    assert (_roundtrip(ds).pixel_array == TEXT).sum() == 0


def test_a_ct_without_burned_in_annotation_is_relayed_unchanged() -> None:
    ds = _image(modality="CT", sop_class="1.2.840.10008.5.1.4.1.1.2", burned_in="NO")
    assert not burned_in_risk(ds)
    out = _roundtrip(ds)
    assert out.PixelData == ds.PixelData


def test_ultrasound_regions_keep_only_the_image_area() -> None:
    ds = _image(modality="US", sop_class=UltrasoundImageStorage)
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 10, 20
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 69, 79
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = np.full((ROWS, COLUMNS), TEXT, dtype=np.uint8).tobytes()  # text everywhere
    pixels = _roundtrip(ds).pixel_array
    assert (pixels[20:80, 10:70] == TEXT).all()
    outside = np.ones_like(pixels, dtype=bool)
    outside[20:80, 10:70] = False
    assert int(pixels[outside].max()) == 0
    assert "burned-in text masked: outside ultrasound regions" in _roundtrip(ds).DeidentificationMethod


def test_colour_and_sixteen_bit_and_monochrome1_are_masked() -> None:
    colour = _roundtrip(_image(samples=3, photometric="RGB")).pixel_array
    assert colour.shape == (ROWS, COLUMNS, 3) and (colour == TEXT).sum() == 0
    assert int(colour[ROWS // 2, COLUMNS // 2, 1]) == TISSUE
    wide = _roundtrip(_image(bits=16)).pixel_array
    assert (wide == TEXT).sum() == 0 and int(wide[ROWS // 2, 3]) == TISSUE
    inverted = _image(photometric="MONOCHROME1")
    pixels = _roundtrip(inverted).pixel_array
    assert int(pixels[0, 0]) == 255  # black in MONOCHROME1 is the highest value


def test_compressed_pixels_that_cannot_be_masked_are_withheld_with_a_message() -> None:
    ds = _image()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8 canary jpeg ZEBULON \xff\xd9"])
    ds["PixelData"].VR = "OB"
    out = dataset_deidentify(ds, pseudonym="PX-TEST")
    assert "PixelData" not in out
    assert out.ImageComments == BURNED_IN_WITHHELD
    assert "pixels withheld: burned-in annotation" in out.DeidentificationMethod


def test_json_metadata_risk() -> None:
    assert burned_in_risk_json({"00080060": {"vr": "CS", "Value": ["US"]}})
    assert burned_in_risk_json({"00280301": {"vr": "CS", "Value": ["YES"]}, "00080060": {"vr": "CS", "Value": ["CT"]}})
    assert not burned_in_risk_json({"00080060": {"vr": "CS", "Value": ["CT"]}})


# --- through the DICOMweb proxy, against the real test PACS -----------------------------------------

@pytest.fixture
def burned_in_study(consult: Consult) -> Iterator[tuple[str, str]]:
    pacs = Orthanc()
    study, series = generate_uid(), generate_uid()
    ds = _image(modality="OT", study=study, series=series)
    pacs.stow([ds])
    linked = ImagingStudy.objects.create(patient=consult.patient, study_instance_uid=study, link_source=LinkSource.UPLOAD,
                                         dicom_patient_id=CANARY["mrn"], mismatch_confirmed=True)
    ImagingSeries.objects.create(study=linked, series_instance_uid=series, modality="OT")
    try:
        yield study, series
    finally:
        pacs.cleanup()


@pytest.mark.integration
@pytest.mark.django_db
def test_proxy_relays_burned_in_instances_masked(consult: Consult, burned_in_study: tuple[str, str]) -> None:
    from tests.conftest import client_for

    _study, real_series = burned_in_study
    data = open_consultation(consult)
    room = client_for(consult.consultant).get(f"/api/v1/consultations/{data['id']}/room/").json()
    series_pk = ImagingSeries.objects.get(series_instance_uid=real_series).pk
    shown = next(s for s in room["series"] if s["id"] == series_pk)
    answer = proxy_fetch(consult.consultant, f"/dicomweb/studies/{shown['study_uid']}/series/{shown['series_uid']}",
                         headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert answer.status == 200, answer.body[:300]
    start = answer.body.index(b"\r\n\r\n") + 4
    relayed = pydicom.dcmread(BytesIO(answer.body[start:]), force=True)
    pixels = relayed.pixel_array
    assert (pixels == TEXT).sum() == 0 and int(pixels[ROWS // 2, COLUMNS // 2]) == TISSUE
    # Pixel-only answers of such a series cannot be masked: the proxy's hook withholds them.
    study_row = ImagingStudy.objects.get(series__series_instance_uid=real_series)
    assert pixels_withheld_for_series(study_id=study_row.pk, series_uid=real_series)
    assert pixels_withheld_for_series(study_id=study_row.pk, series_uid=None)


@pytest.mark.django_db
def test_ct_series_pixels_are_not_withheld(consult: Consult) -> None:
    assert not pixels_withheld_for_series(study_id=consult.study.pk, series_uid=consult.series.series_instance_uid)



@pytest.mark.django_db
@pytest.mark.parametrize("identifiable", [False, True])
def test_room_withholds_burned_in_series_from_a_deidentified_share(consult: Consult, identifiable: bool) -> None:
    from tests.conftest import client_for

    screenshot = ImagingSeries.objects.create(study=consult.study, series_instance_uid=generate_uid(), modality="SC")
    data = open_consultation(consult, identifiable=identifiable)
    path = f"/api/v1/consultations/{data['id']}/room/"
    for user, withheld in ((consult.consultant, not identifiable), (consult.clinician, False)):
        series = {s["id"]: s for s in client_for(user).get(path).json()["series"]}
        assert series[screenshot.pk]["pixels_withheld"] is withheld
        assert series[consult.series.pk]["pixels_withheld"] is False
