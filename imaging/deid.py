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
# DeidentificationMethod names the profile and options. Burned-in annotation is not removed
# from pixels: BurnedInAnnotation is passed on so that a viewer can flag such an image.


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


def dataset_deidentify(ds: Dataset, *, pseudonym: str) -> Dataset:
    """A new dataset holding only retained attributes, UIDs mapped, identity replaced."""
    out = Dataset()
    for element in ds:
        tag = int(element.tag)
        if tag not in RETAINED_TAGS:
            continue
        if element.VR == "SQ":
            out.add_new(element.tag, "SQ", Sequence([dataset_deidentify(item, pseudonym=pseudonym) for item in element.value]))
        elif element.VR == _UID_VR and tag not in _STANDARD_UID_TAGS and element.value:
            values = element.value if element.VM > 1 else [element.value]
            mapped = [uid_pseudonym(str(v), pseudonym=pseudonym) for v in values]
            out.add_new(element.tag, "UI", mapped if element.VM > 1 else mapped[0])
        else:
            out.add(element)
    out.PatientName = pseudonym
    out.PatientID = pseudonym
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "DICOM PS3.15 E.1 Basic Profile (retain list); dates retained"
    return out


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
