"""De-identification of imaging for de-identified shares (DICOM PS3.15 Annex E).

A consultant whose share is de-identified sees pseudonymous UIDs: each real UID maps to
``2.25.<128-bit integer>`` derived with HMAC-SHA256 from the secret key and the share's
pseudonym, so the mapping is the same on every request of one share (a viewer's URLs stay
valid) and different between shares (two consultants cannot link their studies).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import numpy as np
from django.conf import settings
from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.sequence import Sequence

from imaging.models import ImagingSeries
from imaging.selectors import imaging_studies_for_user
from patients.access import patient_pseudonyms_for_user


def uid_pseudonym(uid: str, *, pseudonym: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{pseudonym}:{uid}".encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def share_pseudonym_for(user: Any, patient_id: int) -> str | None:
    """The pseudonym of the de-identified share through which this user sees the patient,
    or None when the user sees the patient identified."""
    return patient_pseudonyms_for_user(user).get(patient_id)


def uid_for_user(user: Any, patient_id: int, uid: str) -> str:
    pseudonym = share_pseudonym_for(user, patient_id)
    return uid if pseudonym is None else uid_pseudonym(uid, pseudonym=pseudonym)


def imaging_rows_for_user(user: Any, patient_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The imaging API's study rows as this user may see them: for a de-identified share, UIDs
    mapped, accession number and free-text descriptions (which may name the patient) dropped."""
    pseudonym = share_pseudonym_for(user, patient_id)
    if pseudonym is None:
        return rows
    out = []
    for row in rows:
        study = dict(row)
        study["study_instance_uid"] = uid_pseudonym(row["study_instance_uid"], pseudonym=pseudonym)
        study["accession_number"] = ""
        study["description"] = ""
        study["series"] = [
            {**series, "series_instance_uid": uid_pseudonym(series["series_instance_uid"], pseudonym=pseudonym),
             "description": ""}
            for series in row.get("series", [])
        ]
        out.append(study)
    return out


# --- DICOM content (PS3.15 Annex E) ---------------------------------------------------------------
#
# A retain list rather than a removal list: only the attributes a viewer needs to place and
# display the pixels are passed on; everything else (every attribute of Table E.1-1 with action
# X, Z, D or U, all private tags, free text, overlays, curves) is dropped. That is stricter than
# the Basic Profile's removal list, with these of its options: Retain Longitudinal Temporal
# Information with Full Dates (study and series dates kept, times dropped) and Retain Patient
# Characteristics (sex only). UIDs are replaced by ``uid_pseudonym`` (consistent per share);
# PatientName and PatientID become the share's pseudonym; PatientIdentityRemoved is YES and
# DeidentificationMethod names the profile and options. Pixels that may carry burned-in text
# (``burned_in_risk``) never leave as stored: uncompressed ones are masked (``pixel_mask``),
# any others are withheld with a message in ImageComments (``BURNED_IN_WITHHELD``).


RETAINED_KEYWORDS = (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID", "StudyDate", "SeriesDate",
    "Modality", "PatientSex", "BodyPartExamined", "SliceThickness", "SpacingBetweenSlices",
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "InstanceNumber", "AcquisitionNumber",
    "ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID", "SliceLocation",
    "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "NumberOfFrames", "Rows", "Columns",
    "PixelSpacing", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PixelPaddingValue",
    "WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope", "RescaleType", "LossyImageCompression",
    "BurnedInAnnotation", "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
    "ModalitiesInStudy", "PresentationLUTShape", "RedPaletteColorLookupTableDescriptor",
    "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "PixelMeasuresSequence",
    "PlanePositionSequence", "PlaneOrientationSequence", "FrameVOILUTSequence", "PixelValueTransformationSequence",
    "FrameContentSequence", "DimensionIndexValues", "InStackPositionNumber",
)
RETAINED_TAGS = frozenset(int(t) for t in (tag_for_keyword(k) for k in RETAINED_KEYWORDS) if t is not None)
_REPLACED = {"PatientName": 0x00100010, "PatientID": 0x00100020}
_UID_VR = "UI"
# UIDs that name a standard thing, not an instance of data: never mapped.
_STANDARD_UID_KEYWORDS = frozenset({"SOPClassUID", "TransferSyntaxUID"})
_STANDARD_UID_TAGS = frozenset(int(t) for t in (tag_for_keyword(k) for k in _STANDARD_UID_KEYWORDS) if t is not None)


def _hex(tag: int) -> str:
    return f"{tag:08X}"


def _attributes_deidentify(ds: Dataset, *, pseudonym: str) -> Dataset:
    out = Dataset()
    for element in ds:
        tag = int(element.tag)
        if tag not in RETAINED_TAGS:
            continue
        if element.VR == "SQ":
            out.add_new(element.tag, "SQ", Sequence([_attributes_deidentify(item, pseudonym=pseudonym)
                                                     for item in element.value]))
        elif element.VR == _UID_VR and tag not in _STANDARD_UID_TAGS and element.value:
            values = element.value if element.VM > 1 else [element.value]
            mapped = [uid_pseudonym(str(v), pseudonym=pseudonym) for v in values]
            out.add_new(element.tag, "UI", mapped if element.VM > 1 else mapped[0])
        else:
            out.add(element)
    return out


def dataset_deidentify(ds: Dataset, *, pseudonym: str) -> Dataset:
    """A new dataset holding only retained attributes, UIDs mapped, identity replaced, and
    pixels that may show burned-in text masked or withheld."""
    out = _attributes_deidentify(ds, pseudonym=pseudonym)
    method = ["DICOM PS3.15 E.1 Basic Profile (retain list); dates retained"]
    if burned_in_risk(ds) and any(k in ds for k in _PIXEL_KEYWORDS):
        masked = pixel_mask(ds)
        for keyword in _PIXEL_KEYWORDS:
            if keyword in out:
                del out[keyword]
        if masked is None:
            out.ImageComments = BURNED_IN_WITHHELD
            method.append("pixels withheld: burned-in annotation")
        else:
            out.add_new(0x7FE00010, ds["PixelData"].VR, masked)
            method.append(f"burned-in text masked: {_mask_kind(ds)}")
    out.PatientName = pseudonym
    out.PatientID = pseudonym
    out.PatientIdentityRemoved = "YES"
    # LO, at most 64 characters a value: one value per step taken.
    out.DeidentificationMethod = method if len(method) > 1 else method[0]
    return out


# --- burned-in annotation ---------------------------------------------------------------------------
#
# BurnedInAnnotation YES says so; secondary captures, "other" and ultrasound images carry
# text in their pixels so often (name, MRN, date in the image itself) that they are treated the
# same whatever the attribute says. No OCR here: the text is assumed to lie where devices put
# it. Ultrasound describes its image areas (SequenceOfUltrasoundRegions), so everything outside
# them is blacked out; for any other image the top and bottom bands (BAND_FRACTION of the
# height each) are, where scanners and capture software write patient banners.

BURNED_IN_MODALITIES = frozenset({"SC", "OT", "US"})
# Secondary Capture (all kinds), Ultrasound and Ultrasound Multi-frame, current and retired.
BURNED_IN_SOP_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.",
)
BAND_FRACTION = 0.12
BURNED_IN_WITHHELD = (
    "Pixel data withheld: this image may show identifying text burned into the pixels, and it "
    "could not be masked. Ask the sharing clinician for an identifiable share to see it."
)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_MASKABLE_PHOTOMETRIC = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL"})
_UNCOMPRESSED_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def burned_in_risk_of(*, burned_in: str | None, modality: str | None, sop_class: str | None) -> bool:
    if (burned_in or "").strip().upper() == "YES":
        return True
    if (modality or "").strip().upper() in BURNED_IN_MODALITIES:
        return True
    return bool(sop_class) and str(sop_class).startswith(BURNED_IN_SOP_CLASS_PREFIXES)


def burned_in_risk(ds: Dataset) -> bool:
    """Whether this instance's pixels may show identifying text."""
    return burned_in_risk_of(burned_in=ds.get("BurnedInAnnotation"), modality=ds.get("Modality"),
                             sop_class=ds.get("SOPClassUID"))


def _json_first(item: dict[str, Any], tag: str) -> str | None:
    values = (item.get(tag) or {}).get("Value") if isinstance(item.get(tag), dict) else None
    return str(values[0]) if isinstance(values, list) and values else None


def burned_in_risk_json(item: dict[str, Any]) -> bool:
    """``burned_in_risk`` for a DICOM JSON dataset (instance metadata)."""
    return burned_in_risk_of(burned_in=_json_first(item, "00280301"), modality=_json_first(item, "00080060"),
                             sop_class=_json_first(item, "00080016"))


def _us_regions(ds: Dataset) -> list[tuple[int, int, int, int]]:
    regions = []
    for region in ds.get("SequenceOfUltrasoundRegions") or []:
        try:
            box = (int(region.RegionLocationMinX0), int(region.RegionLocationMinY0),
                   int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1))
        except (AttributeError, TypeError, ValueError):
            return []  # a region without its box: fall back to the bands
        regions.append(box)
    return regions


def _mask_kind(ds: Dataset) -> str:
    return "outside ultrasound regions" if _us_regions(ds) else "top and bottom bands"


def text_region_mask(ds: Dataset) -> Any:
    """A (rows, columns) boolean array, True where burned-in text may be: outside the
    ultrasound regions if the image has them, else the top and bottom bands."""
    rows, columns = int(ds.Rows), int(ds.Columns)
    regions = _us_regions(ds)
    if regions:
        mask = np.ones((rows, columns), dtype=bool)
        for x0, y0, x1, y1 in regions:
            mask[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = False
        return mask
    band = max(1, round(rows * BAND_FRACTION))
    mask = np.zeros((rows, columns), dtype=bool)
    mask[:band, :] = True
    mask[rows - band:, :] = True
    return mask


def pixel_mask(ds: Dataset) -> bytes | None:
    """The instance's PixelData with the text regions (``text_region_mask``) set to black
    (the lowest stored value; the highest for MONOCHROME1), in the same layout; None when the pixels
    cannot be masked safely here (compressed, big endian, float, subsampled colour, short)."""
    transfer = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "1.2.840.10008.1.2")
    if "PixelData" not in ds or transfer not in _UNCOMPRESSED_LE or ds["PixelData"].is_undefined_length:
        return None
    bits = int(ds.get("BitsAllocated") or 0)
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    if bits not in (8, 16, 32) or photometric not in _MASKABLE_PHOTOMETRIC:
        return None
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    if min(rows, columns, frames, samples) <= 0:
        return None
    size = bits // 8
    expected = frames * rows * columns * samples * size
    data = bytes(ds.PixelData)
    if len(data) < expected:
        return None
    signed = int(ds.get("PixelRepresentation") or 0) == 1 and photometric.startswith("MONOCHROME")
    pixels = np.frombuffer(data[:expected], dtype=f"<{'i' if signed else 'u'}{size}").copy()
    planar = samples > 1 and int(ds.get("PlanarConfiguration") or 0) == 1
    shape = (frames, samples, rows, columns) if planar else (frames, rows, columns, samples)
    pixels = pixels.reshape(shape)
    stored = min(int(ds.get("BitsStored") or bits), bits)
    low, high = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
    black = high if photometric == "MONOCHROME1" else low
    mask = text_region_mask(ds)
    if planar:
        pixels[:, :, mask] = black
    else:
        pixels[:, mask, :] = black
    return pixels.tobytes() + data[expected:]


def json_deidentify(item: dict[str, Any], *, pseudonym: str, url_uid_map: Any = None) -> dict[str, Any]:
    """A DICOM JSON dataset (PS3.18 F.2) with the same rules as ``dataset_deidentify``.
    BulkDataURIs keep their place with their UIDs mapped by ``url_uid_map``."""
    out: dict[str, Any] = {}
    for key, attribute in item.items():
        try:
            tag = int(key, 16)
        except ValueError:
            continue
        if tag not in RETAINED_TAGS or not isinstance(attribute, dict):
            continue
        vr = attribute.get("vr")
        value = attribute.get("Value")
        if vr == "SQ" and isinstance(value, list):
            out[key] = {"vr": "SQ", "Value": [json_deidentify(v, pseudonym=pseudonym, url_uid_map=url_uid_map)
                                              for v in value if isinstance(v, dict)]}
        elif vr == _UID_VR and tag not in _STANDARD_UID_TAGS and isinstance(value, list):
            out[key] = {"vr": "UI", "Value": [uid_pseudonym(str(v), pseudonym=pseudonym) for v in value]}
        elif "BulkDataURI" in attribute:
            uri = str(attribute["BulkDataURI"])
            out[key] = {"vr": vr, "BulkDataURI": url_uid_map(uri) if url_uid_map else uri}
        else:
            out[key] = attribute
    out[_hex(_REPLACED["PatientName"])] = {"vr": "PN", "Value": [{"Alphabetic": pseudonym}]}
    out[_hex(_REPLACED["PatientID"])] = {"vr": "LO", "Value": [pseudonym]}
    out["00120062"] = {"vr": "CS", "Value": ["YES"]}
    return out


# --- resolving the pseudonymous UIDs a de-identified share's browser sends -------------------------

def study_resolve_for_user(user: Any, uid: str) -> tuple[str, str] | None:
    """(real StudyInstanceUID, pseudonym) when ``uid`` is the pseudonym of a study this user
    sees through a de-identified share; None otherwise."""
    pseudonyms = patient_pseudonyms_for_user(user)
    if not pseudonyms or not uid.startswith("2.25."):
        return None
    rows = imaging_studies_for_user(user).filter(patient_id__in=list(pseudonyms)).values_list(
        "study_instance_uid", "patient_id")
    for real, patient_id in rows:
        if uid_pseudonym(real, pseudonym=pseudonyms[patient_id]) == uid:
            return real, pseudonyms[patient_id]
    return None


def series_resolve(*, study_id: int, uid: str, pseudonym: str) -> str | None:
    for real in ImagingSeries.objects.filter(study_id=study_id).values_list("series_instance_uid", flat=True):
        if uid_pseudonym(real, pseudonym=pseudonym) == uid:
            return real
    return None


_URL_UID = re.compile(r"(studies|series|instances)/([0-9.]{1,64})")


def url_uids_map(url: str, *, pseudonym: str) -> str:
    """A proxy URL with each study, series and instance UID in its path replaced by its pseudonym."""
    return _URL_UID.sub(lambda m: f"{m.group(1)}/{uid_pseudonym(m.group(2), pseudonym=pseudonym)}", url)


def pixels_withheld_for_series(*, study_id: int, series_uid: str | None) -> bool:
    """Whether a pixel answer (frames, rendered, thumbnail, bulk) for this series, or for the
    whole study when no series is named, is withheld from a de-identified share: such answers
    are relayed as the PACS made them and cannot be masked here, so a series whose modality
    carries burned-in text does not leave as pixels at all (its instances do, masked)."""
    rows = ImagingSeries.objects.filter(study_id=study_id)
    if series_uid:
        rows = rows.filter(series_instance_uid=series_uid)
    return any(burned_in_risk_of(burned_in=None, modality=m, sop_class=None)
               for m in rows.values_list("modality", flat=True))
