"""Brain tumour (glioma) segmentation of a FLAIR + T1c MR pair (2D network over axial slices).

Labels follow BraTS: 0 background, 1 necrosis, 2 oedema, 3 non-enhancing tumour, 4 enhancing
tumour; whole tumour = 1-4, tumour core = 1, 3, 4, enhancing tumour = 4.

Pipeline (the same code prepares the training slices, so training and serving cannot drift):
T1c brought onto the FLAIR's voxel grid through the two affines (trilinear) -> each modality
z-scored inside the head foreground (so raw scanner intensities and the data set's already
normalised volumes land on the same scale) -> per axial slice, in-plane resampling to the card's
spacing -> a fixed canvas centred on the foreground's bounding box (the "centre crop": the head
sits in the middle of the network's field) -> forward with test-time flips -> mean softmax ->
probabilities back to the FLAIR's slice grid (bilinear) -> argmax inside the foreground -> whole
tumour components under the card's minimum volume dropped. The labels come back in the FLAIR's
exact voxel grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from scipy import ndimage
from tqdm import tqdm

from inference.registry import ModelInputInvalid
from inference.runtime.io import Volume, labels_nifti_write, volume_read
from inference.runtime.liver import class_argmax, tta_probs
from inference.runtime.predictor import LoadedModel, model_load, runtime_of

UNIT_ML = "mL"
UNIT_MM = "mm"
LABELS = {1: "necrosis", 2: "oedema", 3: "non-enhancing tumour", 4: "enhancing tumour"}
REGIONS = {
    "whole_tumour": (1, 2, 3, 4),
    "tumour_core": (1, 3, 4),
    "enhancing_tumour": (4,),
}
BACKGROUND_VALUE = -4.0  # outside the head after z-scoring: darker than (almost) any tissue
MIDLINE_MARGIN_MM = 5.0
LOBE_NOT_DERIVED = (
    "lobe not reported: the model has no brain atlas or lobar labels, so a lobe could not be "
    "derived honestly from the image"
)


@dataclass(frozen=True)
class Canvas:
    """Where the network's square field sits on the in-plane resampled grid (rows, columns)."""

    resampled: tuple[int, int]
    origin: tuple[int, int]  # top-left of the field in resampled pixels (may be negative)
    size: int


def t1c_on_flair_grid(*, flair: Volume, t1c: Volume) -> NDArray[np.float32]:
    """The T1c's values on the FLAIR's voxel grid (i, j, k order of ``flair.data_ijk``).

    Identical grids are taken as they are; otherwise each FLAIR voxel centre is mapped through
    the FLAIR affine to patient space and back through the inverse T1c affine (trilinear; outside
    the T1c: its minimum, i.e. background).
    """
    if t1c.data_ijk.shape == flair.data_ijk.shape and np.allclose(t1c.affine_ras, flair.affine_ras, atol=1e-3):
        return np.asarray(t1c.data_ijk, dtype=np.float32)
    to_t1c = np.linalg.inv(t1c.affine_ras) @ flair.affine_ras
    ni, nj, nk = flair.data_ijk.shape
    ii, jj = np.meshgrid(np.arange(ni, dtype=np.float64), np.arange(nj, dtype=np.float64), indexing="ij")
    out = np.empty(flair.data_ijk.shape, dtype=np.float32)
    fill = float(np.min(t1c.data_ijk))
    for k in range(nk):
        pts = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, float(k)), np.ones(ii.size)])
        src = (to_t1c @ pts)[:3]
        out[:, :, k] = ndimage.map_coordinates(
            np.asarray(t1c.data_ijk, dtype=np.float32), src, order=1, mode="constant", cval=fill
        ).reshape(ni, nj)
    return out


def head_foreground(volume: NDArray[Any]) -> NDArray[np.bool_]:
    """Head/brain foreground of one modality: above its minimum by 2 % of its robust range, holes filled
    slice by slice (background of skull-stripped data is one constant; raw MR background is noise)."""
    lo = float(np.min(volume))
    hi = float(np.percentile(volume, 99.5))
    mask = volume > lo + 0.02 * max(hi - lo, 1e-6)
    for z in range(mask.shape[0]):
        if mask[z].any():
            mask[z] = ndimage.binary_fill_holes(mask[z])
    return np.asarray(mask)


def zscore_inside(volume: NDArray[Any], mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Zero mean, unit variance inside ``mask``, clipped to +-5 SD; outside: ``BACKGROUND_VALUE``."""
    if int(mask.sum()) < 100:
        raise ModelInputInvalid("no head foreground found in the MR volume", code="input_no_foreground")
    values = volume[mask].astype(np.float64)
    mean, sd = float(values.mean()), float(values.std())
    if not np.isfinite(sd) or sd <= 0:
        raise ModelInputInvalid("MR volume has no contrast inside the foreground", code="input_no_contrast")
    out = np.clip((volume.astype(np.float32) - mean) / sd, -5.0, 5.0).astype(np.float32)
    out[~mask] = BACKGROUND_VALUE
    return out


def inputs_prepare(
    flair_zyx: NDArray[Any], t1c_zyx: NDArray[Any]
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """(z, 2, y, x) normalised FLAIR and T1c, and the foreground (the union of both modalities')."""
    if flair_zyx.shape != t1c_zyx.shape or flair_zyx.ndim != 3:
        raise ModelInputInvalid(
            "FLAIR and T1c must be 3D volumes on the same grid",
            detail={"flair": list(flair_zyx.shape), "t1c": list(t1c_zyx.shape)},
        )
    if min(flair_zyx.shape[1:]) < 16:
        raise ModelInputInvalid("slices too small for the model", detail={"shape": list(flair_zyx.shape)})
    for name, v in (("flair", flair_zyx), ("t1c", t1c_zyx)):
        if not np.all(np.isfinite([np.min(v), np.max(v)])):
            raise ModelInputInvalid("MR volume holds non-finite values", detail={"series": name})
    mask = head_foreground(flair_zyx) | head_foreground(t1c_zyx)
    x = np.stack([zscore_inside(flair_zyx, mask), zscore_inside(t1c_zyx, mask)], axis=1)
    return x, mask


def canvas_plan(
    *, shape_yx: tuple[int, int], spacing_yx: tuple[float, float], mask: NDArray[np.bool_], preprocessing: dict[str, Any]
) -> Canvas:
    """Resampled in-plane shape and the field centred on the foreground's bounding box."""
    target = float(preprocessing["spacing_mm"])
    size = int(preprocessing["size"])
    rh = max(1, round(shape_yx[0] * spacing_yx[0] / target))
    rw = max(1, round(shape_yx[1] * spacing_yx[1] / target))
    rows = np.flatnonzero(mask.any(axis=(0, 2)))
    cols = np.flatnonzero(mask.any(axis=(0, 1)))
    cy = (rows[0] + rows[-1] + 1) / 2 * rh / shape_yx[0] if rows.size else rh / 2
    cx = (cols[0] + cols[-1] + 1) / 2 * rw / shape_yx[1] if cols.size else rw / 2
    return Canvas(resampled=(rh, rw), origin=(round(cy - size / 2), round(cx - size / 2)), size=size)


def _overlap(canvas: Canvas) -> tuple[int, int, int, int, int, int]:
    oy, ox = canvas.origin
    rh, rw = canvas.resampled
    sy0, sx0, dy0, dx0 = max(oy, 0), max(ox, 0), max(-oy, 0), max(-ox, 0)
    ny = max(0, min(rh - sy0, canvas.size - dy0))
    nx = max(0, min(rw - sx0, canvas.size - dx0))
    return sy0, sx0, dy0, dx0, ny, nx


def to_canvas(x: torch.Tensor, canvas: Canvas, *, mode: str = "bilinear", fill: float = BACKGROUND_VALUE) -> torch.Tensor:
    """(n, c, h, w) slices -> (n, c, size, size) on the network's field."""
    rh, rw = canvas.resampled
    h, w = x.shape[-2:]
    if (rh, rw) != (h, w):
        if mode == "nearest":
            x = F.interpolate(x, size=(rh, rw), mode="nearest")
        else:
            x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=(rh < h or rw < w))
    out = torch.full((x.shape[0], x.shape[1], canvas.size, canvas.size), fill, dtype=x.dtype)
    sy0, sx0, dy0, dx0, ny, nx = _overlap(canvas)
    out[:, :, dy0 : dy0 + ny, dx0 : dx0 + nx] = x[:, :, sy0 : sy0 + ny, sx0 : sx0 + nx]
    return out


def segment_slices(
    *,
    net: torch.nn.Module,
    device: torch.device,
    x_zcyx: NDArray[np.float32],
    mask: NDArray[np.bool_],
    spacing_yx: tuple[float, float],
    preprocessing: dict[str, Any],
    tta: list[str],
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> NDArray[np.uint8]:
    """Raw labels 0-4 (z, y, x) on the input grid from prepared inputs (:func:`inputs_prepare`)."""
    nz, _, h, w = x_zcyx.shape
    canvas = canvas_plan(shape_yx=(h, w), spacing_yx=spacing_yx, mask=mask, preprocessing=preprocessing)
    n_classes = 1 + len(LABELS)
    labels = np.zeros((nz, h, w), dtype=np.uint8)
    sy0, sx0, dy0, dx0, ny, nx = _overlap(canvas)
    rh, rw = canvas.resampled
    net.eval()
    for z0 in range(0, nz, batch):
        z1 = min(z0 + batch, nz)
        if not mask[z0:z1].any():
            if progress is not None:
                progress(z1 - z0)
            continue
        field = to_canvas(torch.from_numpy(np.ascontiguousarray(x_zcyx[z0:z1])), canvas).to(device)
        probs = torch.zeros((z1 - z0, n_classes, canvas.size, canvas.size), dtype=torch.float32, device=device)
        with torch.inference_mode():
            for name in tta:
                probs += tta_probs(net, field, name)
        probs /= len(tta)
        full = torch.zeros((z1 - z0, n_classes, rh, rw), dtype=torch.float32)
        full[:, 0] = 1.0
        full[:, :, sy0 : sy0 + ny, sx0 : sx0 + nx] = probs.cpu()[:, :, dy0 : dy0 + ny, dx0 : dx0 + nx]
        if (rh, rw) != (h, w):
            full = F.interpolate(full, size=(h, w), mode="bilinear", align_corners=False)
        labels[z0:z1] = class_argmax(full).numpy()
        if progress is not None:
            progress(z1 - z0)
    labels[~mask] = 0
    return labels


def labels_clean(labels: NDArray[np.uint8], *, voxel_ml: float, min_component_ml: float) -> NDArray[np.uint8]:
    """Drop whole-tumour connected components (26-connected) smaller than ``min_component_ml``."""
    if min_component_ml <= 0:
        return labels
    tumour = labels > 0
    comp, n = ndimage.label(tumour, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return labels
    sizes = np.bincount(comp.ravel())
    small = sizes * voxel_ml < min_component_ml
    small[0] = False
    out = labels.copy()
    out[small[comp]] = 0
    return out


def _volume(mask: NDArray[np.bool_], voxel_ml: float) -> dict[str, Any]:
    return {"value": round(float(mask.sum()) * voxel_ml, 2), "unit": UNIT_ML}


def location_of(
    *, tumour_ijk: NDArray[np.bool_], foreground_ijk: NDArray[np.bool_], affine_ras: NDArray[np.float64]
) -> dict[str, Any]:
    """Hemisphere of the tumour's centroid, from the affine (patient left/right), against the
    midpoint of the head foreground's left-right extent (a mid-sagittal plane estimate)."""
    if not tumour_ijk.any():
        return {"hemisphere": None, "lobe": None, "lobe_note": LOBE_NOT_DERIVED}
    centroid = np.append(np.argwhere(tumour_ijk).mean(axis=0), 1.0)
    centroid_ras = (affine_ras @ centroid)[:3]
    fg = np.argwhere(foreground_ijk)
    # the foreground's extent along the patient's right-left (RAS x) axis, via its corner voxels' x
    xs = (affine_ras[0, :3] @ fg.T) + affine_ras[0, 3]
    midline_x = float((xs.min() + xs.max()) / 2)
    offset = float(centroid_ras[0] - midline_x)  # RAS: +x is the patient's right
    hemisphere = "midline" if abs(offset) < MIDLINE_MARGIN_MM else "right" if offset > 0 else "left"
    lps = [-float(centroid_ras[0]), -float(centroid_ras[1]), float(centroid_ras[2])]
    return {
        "hemisphere": hemisphere,
        "centroid_patient_lps": {"value": [round(v, 1) for v in lps], "unit": UNIT_MM},
        "offset_from_midline": {"value": round(abs(offset), 1), "unit": UNIT_MM},
        "method": (
            "tumour centroid against the midpoint of the head's left-right extent in patient coordinates "
            f"(within {MIDLINE_MARGIN_MM:g} mm: midline); mass effect can shift the true midline"
        ),
        "lobe": None,
        "lobe_note": LOBE_NOT_DERIVED,
    }


def findings_of(
    *, labels_zyx: NDArray[np.uint8], spacing_mm: tuple[float, float, float]
) -> dict[str, Any]:
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    regions = {
        name: {"labels": list(values), "volume": _volume(np.isin(labels_zyx, values), voxel_ml)}
        for name, values in REGIONS.items()
    }
    per_label = {
        str(value): {"name": name, "volume": _volume(labels_zyx == value, voxel_ml)} for value, name in LABELS.items()
    }
    return {
        "tumour_detected": bool((labels_zyx > 0).any()),
        "regions": regions,
        "labels": per_label,
    }


def brain_segment_with_model(
    *,
    model: LoadedModel,
    flair: Volume,
    t1c: Volume,
    tta: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    """Labels (internal (z, y, x) order of ``flair``) and findings for one FLAIR + T1c pair."""
    card = model.card
    post = card.data["postprocessing"]
    transforms = list(post.get("tta", ["identity"])) if tta else ["identity"]
    flair_zyx, spacing = flair.internal()
    t1c_on_flair = Volume(data_ijk=t1c_on_flair_grid(flair=flair, t1c=t1c), affine_ras=flair.affine_ras, kind=flair.kind)
    t1c_zyx, _ = t1c_on_flair.internal()
    x, mask = inputs_prepare(flair_zyx, t1c_zyx)
    net = model.network()
    raw = segment_slices(
        net=net,
        device=model.device,
        x_zcyx=x,
        mask=mask,
        spacing_yx=(spacing[1], spacing[2]),
        preprocessing=card.data["preprocessing"],
        tta=transforms,
        batch=int(post.get("batch", 16)),
        progress=progress,
    )
    voxel_ml = float(np.prod(spacing)) / 1000.0
    labels = labels_clean(raw, voxel_ml=voxel_ml, min_component_ml=float(post.get("min_component_ml", 0.0)))
    findings = findings_of(labels_zyx=labels, spacing_mm=spacing)
    findings["location"] = location_of(
        tumour_ijk=flair.from_internal(labels > 0).astype(bool),
        foreground_ijk=flair.from_internal(mask).astype(bool),
        affine_ras=flair.affine_ras,
    )
    findings["model"] = model.provenance()
    findings["input"] = {"shape_zyx": list(flair_zyx.shape), "spacing_mm": [float(s) for s in spacing]}
    findings["uncertainty"] = {
        "method": "test-time augmentation",
        "transforms": transforms,
        "note": "volumes are of the model's labels; see the model card for the leave-one-case-out Dice",
        "runtime": runtime_of(net),
    }
    findings["disclaimer"] = "supports, not replaces, clinical judgement"
    return labels, findings


def run_brain_seg(
    flair: Volume,
    t1c: Volume,
    *,
    model_key: str = "brain_mri_seg",
    version: str | None = None,
    tta: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    """Segment a glioma on a FLAIR + T1c pair; labels 0-4 in the FLAIR's internal (z, y, x) order.

    ``flair.from_internal(labels)`` gives them on the FLAIR's own voxel grid (as written to NIfTI).
    """
    model = model_load(key=model_key, version=version)
    if model.card.task != "segmentation" or model.card.data.get("inputs_series") != ["FLAIR", "T1c"]:
        raise ModelInputInvalid("model is not a FLAIR + T1c segmentation model", detail={"key": model_key})
    return brain_segment_with_model(model=model, flair=flair, t1c=t1c, tta=tta, progress=progress)


def _case_file(folder: Path, prefix: str) -> Path:
    found = sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.name.lower().startswith(prefix.lower()) and p.name.lower().endswith((".nii", ".nii.gz", ".nrrd"))
    )
    if len(found) != 1:
        raise ModelInputInvalid(
            f"the case folder must hold exactly one {prefix}_*.nii.gz (or .nii / .nrrd)",
            code="input_series_missing",
            detail={"series": prefix, "found": [p.name for p in found]},
        )
    return found[0]


def brain_run_on_path(
    *, input_path: Path, out_dir: Path, version: str | None = None, show_progress: bool = True, tta: bool = True
) -> dict[str, Any]:
    """``run_model brain_mri_seg -i CASE_FOLDER -o OUT``: CASE_FOLDER holds ``Flair_*`` and ``T1c_*``
    (NIfTI or NRRD); OUT gets ``labels.nii.gz`` (the FLAIR's grid and affine, labels 0-4) and ``findings.json``."""
    if not input_path.is_dir():
        raise ModelInputInvalid("brain_mri_seg takes a case folder (Flair_* and T1c_*)", detail={"input": input_path.name})
    flair = volume_read(_case_file(input_path, "Flair"))
    t1c = volume_read(_case_file(input_path, "T1c"))
    bar = tqdm(total=flair.internal()[0].shape[0], desc="brain_mri_seg", unit="slice", disable=not show_progress)
    labels, findings = run_brain_seg(flair, t1c, version=version, tta=tta, progress=bar.update)
    bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_nifti_write(volume=flair, labels_zyx=labels, path=out_dir / "labels.nii.gz")
    findings["input"]["kind"] = flair.kind
    (out_dir / "findings.json").write_text(json.dumps(findings, indent=2) + "\n")
    return {
        "model": findings["model"],
        "outputs": ["labels.nii.gz", "findings.json"],
        "whole_tumour_ml": findings["regions"]["whole_tumour"]["volume"]["value"],
        "hemisphere": findings["location"]["hemisphere"],
    }
