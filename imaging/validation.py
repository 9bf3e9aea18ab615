"""Validate one DICOM file before anything of it reaches the PACS.

Two passes over the file on disk, neither loading pixel data into memory:

1. a structural walk of every element header (file meta, data set, sequences and encapsulated
   pixel fragments), so that a declared length running past the end of the file (truncated) or
   beyond any sane size (an absurd tag length, the kind of input that crashes C++ parsers such
   as the PACS's) is caught. pydicom alone reads such files silently: it reads what is there.
2. pydicom (``dcmread`` with ``stop_before_pixels``) for the attributes we check: the UIDs, the
   modality, the patient, the pixel description.

Every refusal is a ``DicomRejected`` with a stable ``code`` (part of the upload API).
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from imaging.uids import uid_is_valid

# Modalities whose objects carry no pixel data (structured reports, key objects, presentation
# states, documents, registrations, RT plans and structures, fiducials).
MODALITIES_WITHOUT_PIXELS = frozenset(
    {"SR", "KO", "PR", "DOC", "REG", "RTSTRUCT", "RTPLAN", "RTRECORD", "RTDOSE", "FID", "PLAN", "AU", "ECG", "HD"}
)
# Deflate can inflate without bound inside the PACS's parser; we refuse it.
REFUSED_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99"})

_PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"})
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_MAX_DEPTH = 16
_MAX_ELEMENTS = 2_000_000


class DicomRejected(Exception):
    """A refused file; ``study_instance_uid`` is set once the file's study is known."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.study_instance_uid: str | None = None
        self.series_instance_uid: str | None = None
        self.sop_instance_uid: str | None = None


@dataclass(frozen=True)
class DicomFileInfo:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    patient_id: str
    transfer_syntax_uid: str
    size: int
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class _PixelElement:
    tag: int
    length: int  # _UNDEFINED for encapsulated data


class _Walker:
    """Walks element headers and skips values, checking every declared length against the file."""

    def __init__(self, fp: BinaryIO, size: int, *, max_value_bytes: int) -> None:
        self.fp = fp
        self.size = size
        self.max_value_bytes = max_value_bytes
        self.explicit = True
        self.little = True
        self.elements = 0
        self.pixels: _PixelElement | None = None

    # -- low level --------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        data = self.fp.read(n)
        if len(data) != n:
            raise DicomRejected("truncated", "The file ends inside an element header.")
        return data

    def _u16(self, data: bytes) -> int:
        return int(struct.unpack("<H" if self.little else ">H", data)[0])

    def _u32(self, data: bytes) -> int:
        return int(struct.unpack("<I" if self.little else ">I", data)[0])

    def _tag(self, data: bytes) -> int:
        return (self._u16(data[:2]) << 16) | self._u16(data[2:4])

    def _check_length(self, tag: int, length: int, vr: bytes | None = None) -> None:
        """A value that runs past the end of the file: absurd (``invalid_length``) or cut off.

        Absurd: longer than any file we accept, or a short-form value (2-byte length, at most
        64 KiB) longer than the whole file. Otherwise the file was most likely cut short.
        """
        remaining = self.size - self.fp.tell()
        if length <= remaining:
            return
        detail = {"tag": f"{tag:08X}", "length": length}
        short_form = self.explicit and vr is not None and vr not in _LONG_VRS
        if length > self.max_value_bytes or (short_form and length > self.size):
            raise DicomRejected("invalid_length", "An element declares an impossible length.", detail)
        raise DicomRejected("truncated", "The file ends before an element's value does.", detail)

    def _skip(self, tag: int, length: int, vr: bytes | None = None) -> None:
        self._check_length(tag, length, vr)
        self.fp.seek(length, 1)

    def _header(self) -> tuple[int, bytes | None, int] | None:
        """(tag, VR or None, length), or None at a clean end of file."""
        first = self.fp.read(4)
        if not first:
            return None
        if len(first) != 4:
            raise DicomRejected("truncated", "The file ends inside an element header.")
        tag = self._tag(first)
        self.elements += 1
        if self.elements > _MAX_ELEMENTS:
            raise DicomRejected("malformed", "The file has an implausible number of elements.")
        if tag >> 16 == 0xFFFE or not self.explicit:
            return tag, None, self._u32(self._read(4))
        vr = self._read(2)
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise DicomRejected("malformed", "An element has an invalid value representation.", {"tag": f"{tag:08X}"})
        if vr in _LONG_VRS:
            self._read(2)
            return tag, vr, self._u32(self._read(4))
        return tag, vr, self._u16(self._read(2))

    # -- structure --------------------------------------------------------------------------
    def meta_end(self) -> int:
        """Walk the file meta group (always explicit VR little endian); return where it ends."""
        self.fp.seek(132)
        while True:
            position = self.fp.tell()
            peek = self.fp.read(2)
            if len(peek) < 2 or struct.unpack("<H", peek)[0] != 0x0002:
                return position
            self.fp.seek(position)
            header = self._header()
            if header is None:
                return position
            tag, vr, length = header
            if length == _UNDEFINED:
                raise DicomRejected("malformed", "The file meta information is malformed.")
            self._skip(tag, length, vr)

    def dataset(self, *, depth: int, end: int | None, top: bool) -> None:
        """Walk elements up to ``end`` (defined length), an item delimiter, or the end of file."""
        if depth > _MAX_DEPTH:
            raise DicomRejected("malformed", "Sequences are nested too deeply.")
        while end is None or self.fp.tell() < end:
            header = self._header()
            if header is None:
                if top:
                    return
                raise DicomRejected("truncated", "The file ends inside a sequence.")
            tag, vr, length = header
            if tag == _ITEM_END:
                if top or end is not None:
                    raise DicomRejected("malformed", "An item delimiter is out of place.")
                return
            if tag in (_ITEM, _SEQUENCE_END):
                raise DicomRejected("malformed", "A sequence delimiter is out of place.")
            if top and tag in _PIXEL_TAGS:
                self.pixels = _PixelElement(tag, length)
            if length == _UNDEFINED:
                if top and tag == 0x7FE00010:
                    self._fragments()
                elif vr == b"UN":
                    # PS3.5 6.2.2: UN of undefined length is a sequence in implicit VR.
                    explicit = self.explicit
                    self.explicit = False
                    try:
                        self._items(depth=depth + 1)
                    finally:
                        self.explicit = explicit
                elif vr in (b"SQ", None):
                    self._items(depth=depth + 1)
                else:
                    raise DicomRejected("invalid_length", "An element has an undefined length it may not have.", {"tag": f"{tag:08X}"})
            elif vr == b"SQ":
                self._check_length(tag, length)
                self._items(depth=depth + 1, end=self.fp.tell() + length)
            else:
                self._skip(tag, length, vr)
            if end is not None and self.fp.tell() > end:
                raise DicomRejected("invalid_length", "An element runs past the end of its item.")

    def _items(self, *, depth: int, end: int | None = None) -> None:
        while end is None or self.fp.tell() < end:
            header = self._header()
            if header is None:
                raise DicomRejected("truncated", "The file ends inside a sequence.")
            tag, _vr, length = header
            if tag == _SEQUENCE_END:
                if end is not None:
                    raise DicomRejected("malformed", "A sequence delimiter is out of place.")
                return
            if tag != _ITEM:
                raise DicomRejected("malformed", "A sequence holds something other than items.", {"tag": f"{tag:08X}"})
            if length == _UNDEFINED:
                self.dataset(depth=depth, end=None, top=False)
            else:
                self._check_length(tag, length)
                self.dataset(depth=depth, end=self.fp.tell() + length, top=False)
        if end is not None and self.fp.tell() != end:
            raise DicomRejected("invalid_length", "A sequence's items do not add up to its length.")

    def _fragments(self) -> None:
        """Encapsulated pixel data: items of defined length up to a sequence delimiter."""
        while True:
            header = self._header()
            if header is None:
                raise DicomRejected("truncated", "The file ends inside the pixel data.")
            tag, _vr, length = header
            if tag == _SEQUENCE_END:
                return
            if tag != _ITEM or length == _UNDEFINED:
                raise DicomRejected("malformed", "The encapsulated pixel data is malformed.")
            self._skip(tag, length)


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return ",".join(str(v).strip() for v in value)
    return str(value).strip()


def _expected_native_bytes(ds: pydicom.Dataset) -> int | None:
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    pixels = rows * columns * samples * frames
    return (pixels + 7) // 8 if bits == 1 else pixels * ((bits + 7) // 8)


def dicom_file_validate(*, path: Path, max_bytes: int) -> DicomFileInfo:
    """The identities of a valid DICOM file, or ``DicomRejected`` with a stable code."""
    size = path.stat().st_size
    if size == 0:
        raise DicomRejected("empty_file", "The file is empty.")
    if size > max_bytes:
        raise DicomRejected("file_too_large", "The file is larger than allowed.", {"max_bytes": max_bytes})
    with path.open("rb") as fp:
        head = fp.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            raise DicomRejected("not_dicom", "Not a DICOM file (no DICM prefix).")
        walker = _Walker(fp, size, max_value_bytes=max_bytes)
        body_start = walker.meta_end()
        with warnings.catch_warnings():
            # pydicom warns about odd but readable values; the checks below decide.
            warnings.simplefilter("ignore")
            try:
                fp.seek(0)
                ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=4096)
                transfer_syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
            except (EOFError, struct.error) as exc:
                raise DicomRejected("truncated", "The file ends too early.") from exc
            except (InvalidDicomError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as exc:
                raise DicomRejected("malformed", "pydicom cannot parse the file.") from exc
            if not transfer_syntax:
                raise DicomRejected("malformed", "The file has no transfer syntax.")
            if transfer_syntax in REFUSED_TRANSFER_SYNTAXES or not transfer_syntax.is_transfer_syntax:
                raise DicomRejected("unsupported_transfer_syntax", "This transfer syntax is not accepted.", {"transfer_syntax_uid": str(transfer_syntax)})
            walker.explicit = not transfer_syntax.is_implicit_VR
            walker.little = transfer_syntax.is_little_endian
            fp.seek(body_start)
            walker.dataset(depth=0, end=None, top=True)
            info = _attributes(ds, walker.pixels, transfer_syntax, size)
    return info


def _attributes(ds: pydicom.Dataset, pixels: _PixelElement | None, transfer_syntax: UID, size: int) -> DicomFileInfo:
    uids: dict[str, str] = {}
    try:
        return _attributes_checked(ds, pixels, transfer_syntax, size, uids)
    except DicomRejected as exc:
        # Attribute the refusal to its study when the UIDs were readable, so that only that
        # study is held back.
        if all(uid_is_valid(uids.get(k)) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")):
            exc.study_instance_uid = uids["StudyInstanceUID"]
            exc.series_instance_uid = uids["SeriesInstanceUID"]
            exc.sop_instance_uid = uids["SOPInstanceUID"]
        raise


def _attributes_checked(
    ds: pydicom.Dataset, pixels: _PixelElement | None, transfer_syntax: UID, size: int, uids: dict[str, str]
) -> DicomFileInfo:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        value = _text(ds, keyword)
        if not value:
            raise DicomRejected("missing_uid", f"The file has no {keyword}.", {"attribute": keyword})
        if not uid_is_valid(value):
            raise DicomRejected("invalid_uid", f"The file's {keyword} is not a valid UID.", {"attribute": keyword})
        uids[keyword] = value
    if uids["StudyInstanceUID"] == uids["SeriesInstanceUID"] or uids["SeriesInstanceUID"] == uids["SOPInstanceUID"]:
        raise DicomRejected("invalid_uid", "Study, series and instance UIDs must differ.")
    modality = _text(ds, "Modality")
    if not modality:
        raise DicomRejected("missing_modality", "The file has no Modality.")
    if modality not in MODALITIES_WITHOUT_PIXELS:
        if pixels is None:
            raise DicomRejected("missing_pixel_data", f"A {modality} object needs pixel data.", {"modality": modality})
        for keyword in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"):
            if keyword not in ds:
                raise DicomRejected("invalid_pixel_data", f"The pixel data lacks {keyword}.", {"attribute": keyword})
        if pixels.length == _UNDEFINED:
            if not transfer_syntax.is_encapsulated:
                raise DicomRejected("invalid_pixel_data", "Encapsulated pixel data in a native transfer syntax.")
        elif pixels.tag == 0x7FE00010:
            if transfer_syntax.is_encapsulated:
                raise DicomRejected("invalid_pixel_data", "Native pixel data in a compressed transfer syntax.")
            expected = _expected_native_bytes(ds)
            if expected is None or pixels.length < expected:
                raise DicomRejected(
                    "invalid_pixel_data", "The pixel data is shorter than its description.",
                    {"expected_bytes": expected, "length": pixels.length},
                )
    extra = {
        keyword: _text(ds, keyword)
        for keyword in ("StudyDate", "StudyDescription", "SeriesDescription", "BodyPartExamined", "AccessionNumber")
        if keyword in ds
    }
    return DicomFileInfo(
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        modality=modality,
        patient_id=_text(ds, "PatientID"),
        transfer_syntax_uid=str(transfer_syntax),
        size=size,
        extra=extra,
    )
