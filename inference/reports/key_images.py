"""Key images of a report's lesions, rendered when the report is exported.

The report content keeps each lesion's slice range and centroid and the UIDs of the SEG the
imaging step wrote back to the PACS, not pixels: the images are read again from the PACS with
the project's DICOMweb client, so the printed image shows exactly the stored outline. For each
lesion: the source image at the lesion's centroid slice (index 0 = the most inferior image, the
order the imaging step sorted the series in), windowed for the abdomen, with the lesion's
outline from the SEG's lesion segment; beside it a magnified view around the lesion.

A PACS that is down or a series that is gone leaves the report without that image and says so;
it never stops the export.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from pydicom.pixels import apply_voi_lut
from scipy import ndimage

from imaging.dicomweb.client import dicomweb_client_build
from inference.reports.heatmaps import heatmap_grey as _heatmap_grey
from inference.reports.heatmaps import jet as _jet
from inference.reports.heatmaps import png as _png
from inference.reports.presentation import ImagingBlock

logger = logging.getLogger(__name__)

LESION_SEGMENT = 2  # the lesion segment of the liver model's SEG (inference.runtime.dicom_seg)
WINDOW_CENTRE_HU, WINDOW_WIDTH_HU = 50.0, 400.0  # abdominal soft-tissue window
PANEL_PX = 256
ZOOM_FIELD_MM = 60.0  # the magnified view shows at least this much around the lesion
OUTLINE = (255, 214, 0)  # the lesion shown, in yellow
OTHER_OUTLINE = (0, 190, 255)  # other lesions on the same image
BOX = (255, 214, 0)

InstanceFetch = Callable[[str, str, str], Any]  # (study, series, instance UID) -> pydicom Dataset


@dataclass(frozen=True)
class KeyImage:
    lesion_number: int
    png: bytes | None
    caption: str


def pacs_fetch() -> InstanceFetch:
    client = dicomweb_client_build()

    def fetch(study_uid: str, series_uid: str, instance_uid: str) -> Any:
        return client.retrieve_instance(study_instance_uid=study_uid, series_instance_uid=series_uid,
                                        sop_instance_uid=instance_uid)

    return fetch


def _hu(ds: Any) -> NDArray[np.float32]:
    pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return pixels * slope + intercept


def _window(hu: NDArray[np.float32]) -> NDArray[np.uint8]:
    low = WINDOW_CENTRE_HU - WINDOW_WIDTH_HU / 2
    scaled = (hu - low) / WINDOW_WIDTH_HU * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _outline(mask: NDArray[np.bool_], thickness: int) -> NDArray[np.bool_]:
    if not mask.any():
        return mask
    inner = ndimage.binary_erosion(mask, iterations=thickness, border_value=0)
    return mask & ~inner


def _resize_mask(mask: NDArray[np.bool_], size: tuple[int, int]) -> NDArray[np.bool_]:
    image = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
    return np.asarray(image) > 127


def _paint(rgb: NDArray[np.uint8], mask: NDArray[np.bool_], colour: tuple[int, int, int], thickness: int) -> None:
    rgb[_outline(mask, thickness)] = colour


def _component_near(mask: NDArray[np.bool_], row: float | None, col: float | None) -> NDArray[np.bool_]:
    """The 2D lesion component at (row, col), else the nearest to it, else the largest."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    if row is not None and col is not None:
        r, c = round(row), round(col)
        if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and labels[r, c]:
            return np.asarray(labels == labels[r, c])
        centres = ndimage.center_of_mass(mask, labels, range(1, count + 1))
        distances = [(cr - row) ** 2 + (cc - col) ** 2 for cr, cc in centres]
        return np.asarray(labels == int(np.argmin(distances)) + 1)
    sizes = ndimage.sum_labels(mask, labels, range(1, count + 1))
    return np.asarray(labels == int(np.argmax(sizes)) + 1)


def key_image_render(
    *, hu: NDArray[np.float32], lesion_mask: NDArray[np.bool_], pixel_spacing_mm: tuple[float, float],
    centre_rc: tuple[float, float] | None = None,
) -> bytes:
    """PNG: the whole image with a box around the lesion, and a magnified view with its outline."""
    grey = _window(hu)
    this = _component_near(lesion_mask, *(centre_rc or (None, None)))
    others = lesion_mask & ~this
    rows, cols = grey.shape
    # The whole image, scaled to the panel (keeping the aspect ratio).
    scale = PANEL_PX / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    whole = np.stack([np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.BILINEAR))] * 3, axis=-1)
    _paint(whole, _resize_mask(others, size), OTHER_OUTLINE, 1)
    _paint(whole, _resize_mask(this, size), OUTLINE, 1)
    whole_image = Image.fromarray(whole)
    # The magnified view: a square around the lesion, at least ZOOM_FIELD_MM wide.
    where = np.argwhere(this) if this.any() else np.argwhere(np.ones_like(this))
    (r0, c0), (r1, c1) = where.min(axis=0), where.max(axis=0) + 1
    field_px = max(int(ZOOM_FIELD_MM / min(pixel_spacing_mm)), int(1.6 * max(r1 - r0, c1 - c0)), 16)
    field_px = min(field_px, rows, cols)
    cr, cc = (r0 + r1) // 2, (c0 + c1) // 2
    top = int(min(max(cr - field_px // 2, 0), rows - field_px))
    left = int(min(max(cc - field_px // 2, 0), cols - field_px))
    crop = (slice(top, top + field_px), slice(left, left + field_px))
    zoom = np.stack([np.asarray(Image.fromarray(grey[crop]).resize((PANEL_PX, PANEL_PX), Image.Resampling.BILINEAR))] * 3, axis=-1)
    _paint(zoom, _resize_mask(others[crop], (PANEL_PX, PANEL_PX)), OTHER_OUTLINE, 2)
    _paint(zoom, _resize_mask(this[crop], (PANEL_PX, PANEL_PX)), OUTLINE, 2)
    draw = ImageDraw.Draw(whole_image)
    draw.rectangle(
        (left * scale, top * scale, (left + field_px) * scale - 1, (top + field_px) * scale - 1), outline=BOX, width=1,
    )
    canvas = Image.new("RGB", (size[0] + 8 + PANEL_PX, max(size[1], PANEL_PX)), (255, 255, 255))
    canvas.paste(whole_image, (0, 0))
    canvas.paste(Image.fromarray(zoom), (size[0] + 8, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _lesion_mask(seg: Any, instance_uid: str) -> NDArray[np.bool_] | None:
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[instance_uid], segment_numbers=[LESION_SEGMENT],
            assert_missing_frames_are_empty=True,
        )
    except (ValueError, KeyError, IndexError):
        return None
    return np.asarray(pixels[0, :, :, 0] > 0)


def key_images_for_block(
    block: ImagingBlock, *, lesions_raw: list[dict[str, Any]], fetch: InstanceFetch | None = None,
) -> dict[int, KeyImage]:
    """Key images of a segmentation block's lesions, by lesion number (missing ones say why)."""
    if not block.lesions:
        return {}

    def unavailable(reason: str) -> dict[int, KeyImage]:
        return {lesion.number: KeyImage(lesion.number, None, f"Key image unavailable: {reason}.") for lesion in block.lesions}

    if not (block.study_uid and block.seg_series_uid and block.seg_instance_uid and block.instance_uids):
        return unavailable("the report does not reference the stored segmentation")
    try:
        get = fetch or pacs_fetch()
        seg = hd.seg.Segmentation.from_dataset(get(block.study_uid, block.seg_series_uid, block.seg_instance_uid))
    except Exception as exc:  # the PACS is down or the SEG is gone: print the report without images
        logger.warning("key images: segmentation unavailable (%s)", type(exc).__name__)
        return unavailable("the segmentation could not be read from the image archive")
    raw_by_number = {int(r.get("id", i)): r for i, r in enumerate(lesions_raw, start=1) if isinstance(r.get("id", i), int)}
    images: dict[int, KeyImage] = {}
    count = len(block.instance_uids)
    for lesion in block.lesions:
        if lesion.key_slice is None or lesion.key_instance_uid is None:
            images[lesion.number] = KeyImage(lesion.number, None, "Key image unavailable: no slice recorded for this lesion.")
            continue
        try:
            index, instance_uid = lesion.key_slice, lesion.key_instance_uid
            mask = _lesion_mask(seg, instance_uid)
            if mask is None or not mask.any():
                # A series stored head first: the model's slice order runs the other way.
                index = count - 1 - lesion.key_slice
                instance_uid = block.instance_uids[index]
                mask = _lesion_mask(seg, instance_uid)
            if mask is None or not mask.any():
                images[lesion.number] = KeyImage(lesion.number, None, "Key image unavailable: the outline is not on the recorded slice.")
                continue
            ds = get(block.study_uid, block.series_uid, instance_uid)
            spacing = tuple(float(v) for v in getattr(ds, "PixelSpacing", (1.0, 1.0)))
            centroid = raw_by_number.get(lesion.number, {}).get("centroid_zyx")
            centre = (float(centroid[1]), float(centroid[2])) if isinstance(centroid, list) and len(centroid) == 3 else None
            png = key_image_render(hu=_hu(ds), lesion_mask=mask, pixel_spacing_mm=(spacing[0], spacing[1]), centre_rc=centre)
        except Exception as exc:  # one bad image never stops the report
            logger.warning("key images: lesion image failed (%s)", type(exc).__name__)
            images[lesion.number] = KeyImage(lesion.number, None, "Key image unavailable: the image could not be read.")
            continue
        images[lesion.number] = KeyImage(
            lesion.number, png,
            f"Lesion {lesion.number}: image {index + 1} of {count}, abdominal window (W {WINDOW_WIDTH_HU:.0f} / "
            f"L {WINDOW_CENTRE_HU:.0f} HU). Yellow: this lesion's AI outline; the box marks the magnified area.",
        )
    return images


def key_images_for_document(document: Any, content: dict[str, Any], *, fetch: InstanceFetch | None = None) -> dict[tuple[int, int], KeyImage]:
    """Key images of every imaging block with lesions: {(block index, lesion number): image}."""
    raw_blocks = [f for f in content.get("imaging_findings", []) if isinstance(f, dict) and f.get("kind") != "noop"]
    out: dict[tuple[int, int], KeyImage] = {}
    for index, block in enumerate(document.imaging):
        if not block.lesions:
            continue
        raw = next((r for r in raw_blocks if str(r.get("series_uid")) == block.series_uid), {})
        lesions_raw = [lesion for lesion in (raw.get("findings") or {}).get("lesions", []) if isinstance(lesion, dict)]
        for number, image in key_images_for_block(block, lesions_raw=lesions_raw, fetch=fetch).items():
            out[(index, number)] = image
    return out


# --- heatmaps of image classifications ---------------------------------------------------------

HEATMAP_ALPHA = 0.55  # at the hottest point; cold regions leave the radiograph as it is


def _radiograph_grey(ds: Any) -> NDArray[np.uint8]:
    """The radiograph for display: its VOI window when it has one, else the 1st-99th percentiles."""
    pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        pixels = pixels.mean(axis=-1)
    elif pixels.ndim == 3:
        pixels = pixels[0]
    try:
        windowed = np.asarray(apply_voi_lut(pixels, ds), dtype=np.float32) if "WindowCenter" in ds else pixels
    except (ValueError, KeyError, IndexError):
        windowed = pixels
    low, high = np.percentile(windowed, (1, 99))
    scaled = np.clip((windowed - low) / max(float(high - low), 1e-6), 0, 1)
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        scaled = 1.0 - scaled
    return np.asarray(scaled * 255, dtype=np.uint8)


def heatmap_key_image_render(*, radiograph: NDArray[np.uint8], heatmap: NDArray[np.float32]) -> bytes:
    """PNG: the radiograph, and beside it the same radiograph with the heatmap laid over it.

    The model saw the image squeezed to a square, so the map is stretched back to the image's
    own proportions."""
    rows, cols = radiograph.shape
    scale = PANEL_PX / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    grey = np.asarray(Image.fromarray(radiograph).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    heat = np.asarray(Image.fromarray((heatmap * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR),
                      dtype=np.float32) / 255.0
    base = np.stack([grey] * 3, axis=-1)
    alpha = (HEATMAP_ALPHA * heat)[..., None]
    overlay = (base * (1 - alpha) + _jet(heat).astype(np.float32) * alpha).astype(np.uint8)
    canvas = np.full((size[1], size[0] * 2 + 8, 3), 255, dtype=np.uint8)
    canvas[:, : size[0]] = base.astype(np.uint8)
    canvas[:, size[0] + 8:] = overlay
    return _png(canvas)


@dataclass(frozen=True)
class HeatmapImage:
    png: bytes
    caption: str


def _stored_heatmaps(content: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The grey heatmaps the imaging step kept, by (series, classified image)."""
    out: dict[tuple[str, str], str] = {}
    for finding in content.get("imaging_findings", []):
        if not isinstance(finding, dict):
            continue
        for prediction in (finding.get("findings") or {}).get("predictions", []):
            if isinstance(prediction, dict) and isinstance(prediction.get("heatmap_ref"), str):
                out[(str(finding.get("series_uid")), str(prediction.get("sop_instance_uid") or ""))] = prediction["heatmap_ref"]
    return out


def heatmap_images_for_document(
    document: Any, content: dict[str, Any], *, fetch: InstanceFetch | None = None,
) -> dict[tuple[int, int], HeatmapImage]:
    """Key images of the classified images: {(block index, heatmap number): image}. The
    radiograph comes from the PACS; without it the heatmap is shown alone and the caption says so."""
    stored_refs = _stored_heatmaps(content)
    out: dict[tuple[int, int], HeatmapImage] = {}
    get: InstanceFetch | None = fetch
    for index, block in enumerate(document.imaging):
        for heatmap in block.heatmaps:
            stored = _heatmap_grey(stored_refs.get((block.series_uid, heatmap.sop_instance_uid), ""))
            if stored is None:
                continue
            try:
                if not (block.study_uid and heatmap.sop_instance_uid):
                    raise LookupError("no image reference")
                if get is None:
                    get = pacs_fetch()
                ds = get(block.study_uid, block.series_uid, heatmap.sop_instance_uid)
                png = heatmap_key_image_render(radiograph=_radiograph_grey(ds), heatmap=stored)
                caption = (f"Image {heatmap.number}: the radiograph (left) and the model's heatmap over it (right; red: "
                           f"where the model looked most). {heatmap.caveat}")
            except Exception as exc:  # the PACS is down or the image is gone: the heatmap alone
                logger.warning("key images: radiograph unavailable (%s)", type(exc).__name__)
                png = _png(_jet(stored))
                caption = (f"Image {heatmap.number}: the model's heatmap alone (the radiograph could not be read from "
                           f"the image archive). {heatmap.caveat}")
            out[(index, heatmap.number)] = HeatmapImage(png, caption)
    return out
