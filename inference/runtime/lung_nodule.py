"""Lung nodule detection and measurement on chest CT: a classical, hand-tuned detector.

Why classical: the development data are two annotated slabs (LIDC-IDRI, one nodule each), far
too few to train a network; a handful of parameters (a JSON "weights" file named by the model
card) tuned leave-one-slab-out is what two slabs can support. Numpy and scipy only (no torch).

Pipeline, all in the internal (z, y, x) order of :mod:`inference.runtime.io` with spacing in mm:

1. lung mask: air (< ``lung_hu``) not connected to the in-plane image border, large enough to be
   lung; each slice's mask closed by ``closing_mm`` and hole-filled so that nodules inside the lung
   and against the pleura count as lung;
2. candidates: voxels denser than ``nodule_hu`` inside the lung, opened by a ball of radius
   ``open_mm`` (erosion and dilation by Euclidean distance in mm), which cuts thin vessels and
   their attachments to nodules; each 3D component of the opened mask, grown back into the dense
   voxels within ``regrow_mm``, is one candidate;
3. decision: equivalent diameter ``min_diameter_mm`` .. ``max_diameter_mm``, elongation (ratio of
   the principal axes) at most ``max_elongation``, fill of the candidate's ellipsoid at least
   ``min_fill``; the confidence is a soft version of the same criteria (not calibrated);
4. measurement: long and short axis on the axial slice of largest cross-section (the Fleischner
   and Lung-RADS convention), mean diameter, volume, mean HU, solid fraction (type), calcification.

:func:`nodule_measure_at` grows one nodule from a clicked voxel with the same segmentation
(click-to-measure in the viewer).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from inference.registry import ModelCard, ModelInputInvalid, model_card_get, model_weights_verify
from inference.runtime.dicom_seg import seg_dicom_nodules_from_volume
from inference.runtime.io import (
    Volume,
    dicom_series_from_datasets,
    labels_nifti_write,
    seg_file_write,
    volume_read,
)

MODEL_KEY = "lung_nodule_ct"
DEFAULT_PARAMS: dict[str, Any] = {
    "lung_hu": -400.0,
    "min_lung_ml": 5.0,
    "closing_mm": 8.0,
    "nodule_hu": -650.0,
    "open_mm": [1.5, 2.5, 3.5],
    "regrow_mm": 1.5,
    "dedup_overlap": 0.3,
    "min_diameter_mm": 3.0,
    "max_diameter_mm": 30.0,
    "max_elongation": 2.5,
    "min_fill": 0.35,
    "max_attachment": 1.0,
    "solid_hu": -300.0,
    "calcified_hu": 200.0,
    "solid_fraction_solid": 0.5,
    "solid_fraction_part_solid": 0.1,
    "calcified_fraction": 0.1,
    "upper_lobe_fraction": 0.45,
}
NOTICE = "supports, not replaces, clinical judgement"
SHELL_MM = 3.0  # shell around a candidate in which dense tissue counts as an attachment


def _validate(volume_hu: NDArray[Any], spacing: tuple[float, float, float]) -> None:
    if volume_hu.ndim != 3 or min(volume_hu.shape[1:]) < 16:
        raise ModelInputInvalid("expected a CT volume (z, y, x)", detail={"shape": list(volume_hu.shape)})
    if len(spacing) != 3 or not all(np.isfinite(s) and 0 < s < 50 for s in spacing):
        raise ModelInputInvalid(
            "spacing must be three positive millimetre values", detail={"spacing": list(spacing)}
        )
    lo, hi = float(np.min(volume_hu)), float(np.max(volume_hu))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -4000 or hi > 40000:
        raise ModelInputInvalid("values do not look like Hounsfield units", code="input_not_hounsfield")


def _erode_mm(mask: NDArray[np.bool_], r: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    if r <= 0 or not mask.any():
        return mask.copy()
    return np.asarray(ndi.distance_transform_edt(mask, sampling=spacing) > r)


def _dilate_mm(mask: NDArray[np.bool_], r: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    if r <= 0 or not mask.any():
        return mask.copy()
    return np.asarray(ndi.distance_transform_edt(~mask, sampling=spacing) <= r)


def _grown(box: tuple[slice, ...], pad: list[int], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(max(b.start - p, 0), min(b.stop + p, n)) for b, p, n in zip(box, pad, shape, strict=True)
    )


def _reach(r: float, spacing: tuple[float, ...]) -> list[int]:
    """Voxels per axis beyond which every voxel lies farther than ``r`` mm."""
    return [math.ceil(r / s) + 1 for s in spacing]


def _bbox(mask: NDArray[np.bool_]) -> tuple[slice, ...]:
    box = []
    for axis in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def _ball(r: float, spacing: tuple[float, ...]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Voxel offsets (one per row) within ``r`` mm and their distances, nearest first, the
    distances computed the way ``distance_transform_edt`` computes them."""
    axes = [np.arange(-k, k + 1) for k in _reach(r, spacing)]
    offsets = np.stack([g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    squares = (offsets.astype(np.float64) * np.asarray(spacing, dtype=np.float64)) ** 2
    total = squares[:, 0]
    for axis in range(1, squares.shape[1]):
        total = total + squares[:, axis]
    d = np.sqrt(total)
    order = np.argsort(d, kind="stable")
    keep = order[d[order] <= r]
    return offsets[keep].astype(np.int64), d[keep]


def _threshold_ambiguous(r: float, spacing: tuple[float, ...]) -> bool:
    """Whether voxel offsets at (up to rounding) the same distance fall on both sides of ``r``.

    The distance transform reports the rounded distance of the one nearest zero it picks; the
    cropped transforms and ball operations below compare every offset with ``r`` instead. The two
    differ only where a tie's offsets round to different sides of ``r``: callers fall back to the
    whole-volume transform then."""
    _, d = _ball(r * (1.0 + 1e-9) + 1e-9, spacing)
    near = d[np.abs(d - r) <= 1e-9 * max(r, 1.0)]
    return bool((near > r).any() and (near <= r).any())


def _padded_index(mask: NDArray[np.bool_], pad: list[int]) -> tuple[NDArray[np.int64], tuple[int, ...]]:
    """Flat indices of the mask's voxels in the mask padded by ``pad`` voxels per side, and that shape."""
    shape = tuple(n + 2 * k for n, k in zip(mask.shape, pad, strict=True))
    coords = np.nonzero(mask)
    return np.ravel_multi_index(tuple(c + k for c, k in zip(coords, pad, strict=True)), shape).astype(
        np.int64
    ), shape


def _depth_within(mask: NDArray[np.bool_], r_max: float, spacing: tuple[float, ...]) -> NDArray[np.float64]:
    """Each mask voxel's distance (mm) to the nearest voxel of the array outside the mask, where
    that is at most ``r_max`` (inf beyond; 0 off the mask): ``distance_transform_edt(mask)``
    thresholded at any ``r <= r_max`` the same way, unless :func:`_threshold_ambiguous`.

    Looks only at the ball of ``r_max`` around each voxel (nearest offsets first, dropping a voxel
    once it meets the outside), so the cost follows the mask's voxels, not its box."""
    offsets, dist = _ball(r_max, spacing)
    pad = _reach(r_max, spacing)
    active, shape = _padded_index(mask, pad)
    # outside the array counts as inside the mask, as for the transform
    inside = np.pad(mask, [(k, k) for k in pad], constant_values=True).reshape(-1)
    steps = np.ravel_multi_index(tuple((offsets + pad).T), shape) - np.ravel_multi_index(tuple(pad), shape)
    depth = np.full(active.size, np.inf)
    where = np.arange(active.size)
    for step, d in zip(steps, dist, strict=True):
        met = ~inside[active + step]
        if met.any():
            depth[where[met]] = d
            active, where = active[~met], where[~met]
            if not active.size:
                break
    out = np.zeros(mask.shape, dtype=np.float64)
    out[mask] = depth
    return out


def _dilate_ball_mm(mask: NDArray[np.bool_], r: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    """:func:`_dilate_mm` by stamping the ball of ``r`` on every mask voxel (for a sparse mask),
    unless :func:`_threshold_ambiguous`."""
    pad = _reach(r, spacing)
    sources, shape = _padded_index(mask, pad)
    offsets, _ = _ball(r, spacing)
    steps = np.ravel_multi_index(tuple((offsets + pad).T), shape) - np.ravel_multi_index(tuple(pad), shape)
    out = np.zeros(shape, dtype=bool)
    flat = out.reshape(-1)
    flat[sources] = True
    for step in steps:
        flat[sources + step] = True
    return out[tuple(slice(k, k + n) for k, n in zip(pad, mask.shape, strict=True))]


def _openings(
    dense: NDArray[np.bool_], radii: list[float], spacing: tuple[float, ...]
) -> list[NDArray[np.bool_]]:
    """The mask opened by a ball of each radius (eroded, dilated back, within the mask), as
    :func:`_erode_mm` then :func:`_dilate_mm` give it."""
    if not dense.any() or any(r <= 0 or _threshold_ambiguous(r, spacing) for r in radii):
        return [_dilate_mm(_erode_mm(dense, r, spacing), r, spacing) & dense for r in radii]
    depth = _depth_within(dense, max(radii), spacing)
    return [_dilate_ball_mm(depth > r, r, spacing) & dense for r in radii]


def _fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ndi.binary_fill_holes`` (same default connectivity) by one labelling of the background:
    the holes are its components that do not reach the array's edge."""
    background, n = ndi.label(~mask)
    edge = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]], axis=None)
    hole = np.ones(n + 1, dtype=bool)
    hole[edge] = False
    hole[0] = False
    return mask | hole[background]


def _lung_close_slice(
    lung2d: NDArray[np.bool_], r: float, spacing: tuple[float, float], exact_crop: bool
) -> NDArray[np.bool_]:
    """One slice of :func:`lung_mask`: the closing and hole filling, in the lung's box grown by
    twice the closing radius (plus a ring of background, so holes stay holes)."""
    out = np.zeros(lung2d.shape, dtype=bool)
    sl = (
        _grown(_bbox(lung2d), [2 * k + 1 for k in _reach(r, spacing)], lung2d.shape)
        if exact_crop
        else (slice(None), slice(None))
    )
    piece = lung2d[sl]
    closed = _erode_mm(_dilate_mm(piece, r, spacing), r, spacing)
    out[sl] = _fill_holes(closed | piece)
    return out


def lung_mask(
    volume_hu: NDArray[Any], spacing: tuple[float, float, float], params: dict[str, Any]
) -> NDArray[np.bool_]:
    """Lungs (with what lies inside them) as a boolean (z, y, x) mask."""
    air = volume_hu < params["lung_hu"]
    labels, n = ndi.label(air)
    if n == 0:
        return np.zeros(volume_hu.shape, dtype=bool)
    outside = set(
        np.unique(
            np.concatenate([labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]], axis=None)
        ).tolist()
    )
    voxel_ml = float(np.prod(spacing)) / 1000.0
    lung = np.zeros(volume_hu.shape, dtype=bool)
    # each inner air component counted and kept in its own box (the air outside the body, the
    # largest, is never counted)
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None or i in outside:
            continue
        part = labels[box] == i
        if int(np.count_nonzero(part)) * voxel_ml >= params["min_lung_ml"]:
            lung[box] |= part
    r = float(params["closing_mm"])
    exact_crop = not _threshold_ambiguous(r, spacing[1:])
    out = np.zeros_like(lung)
    for z in range(volume_hu.shape[0]):
        if lung[z].any():
            out[z] = _lung_close_slice(lung[z], r, spacing[1:], exact_crop)
    return out


def _lung_mask_reference(
    volume_hu: NDArray[Any], spacing: tuple[float, float, float], params: dict[str, Any]
) -> NDArray[np.bool_]:
    """:func:`lung_mask` over whole slices (the equivalence tests' and the bench's reference)."""
    air = volume_hu < params["lung_hu"]
    labels, n = ndi.label(air)
    if n == 0:
        return np.zeros(volume_hu.shape, dtype=bool)
    border = np.zeros(volume_hu.shape, dtype=bool)
    border[:, 0, :] = border[:, -1, :] = border[:, :, 0] = border[:, :, -1] = True
    outside = set(np.unique(labels[border & air]).tolist())
    sizes = ndi.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    voxel_ml = float(np.prod(spacing)) / 1000.0
    keep = np.zeros(n + 1, dtype=bool)
    for i, size in enumerate(sizes, start=1):
        keep[i] = i not in outside and size * voxel_ml >= params["min_lung_ml"]
    lung = keep[labels]
    out = np.zeros_like(lung)
    for z in range(lung.shape[0]):
        if not lung[z].any():
            continue
        closed = _erode_mm(
            _dilate_mm(lung[z], params["closing_mm"], spacing[1:]), params["closing_mm"], spacing[1:]
        )
        out[z] = ndi.binary_fill_holes(closed | lung[z])
    return out


@dataclass
class Candidate:
    """A grown candidate as sorted flat voxel indices into the volume (cheap to compare)."""

    index: NDArray[np.int64]
    shape: tuple[int, int, int]
    features: dict[str, Any]

    @property
    def mask(self) -> NDArray[np.bool_]:
        full = np.zeros(self.shape, dtype=bool)
        full.flat[self.index] = True
        return full


def _pca_axes(coords_mm: NDArray[np.float64], spacing: tuple[float, float, float]) -> NDArray[np.float64]:
    """Principal standard deviations (mm) of the voxels, each voxel taken as a uniform box (so a
    one-slice blob still has a thickness)."""
    box = np.diag(np.asarray(spacing, dtype=np.float64) ** 2 / 12.0)
    cov = (np.cov(coords_mm.T) if coords_mm.shape[0] > 1 else np.zeros((3, 3))) + box
    return np.sqrt(np.clip(np.sort(np.linalg.eigvalsh(cov))[::-1], 1e-6, None))


def candidate_features(
    mask: NDArray[np.bool_],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    n_slices: int | None = None,
) -> dict[str, Any]:
    """Shape and density of a candidate (``mask`` and ``volume_hu`` may be a crop of the volume;
    ``n_slices`` is then the whole volume's slice count)."""
    n_slices = mask.shape[0] if n_slices is None else n_slices
    idx = np.argwhere(mask)
    coords = idx * np.asarray(spacing)
    volume_mm3 = float(idx.shape[0] * np.prod(spacing))
    diameter = (6.0 * volume_mm3 / math.pi) ** (1.0 / 3.0)
    sd = _pca_axes(coords, spacing)
    # a solid ellipsoid has semi-axis sqrt(5) * sd along each principal direction
    ellipsoid = 4.0 / 3.0 * math.pi * float(np.prod(np.sqrt(5.0) * sd))
    z_extent = (int(idx[:, 0].max()) - int(idx[:, 0].min()) + 1) if idx.size else 0
    return {
        "volume_mm3": volume_mm3,
        "equivalent_diameter_mm": diameter,
        "elongation": float(sd[0] / sd[2]),
        "fill": float(min(volume_mm3 / ellipsoid, 1.0)) if ellipsoid > 0 else 0.0,
        "mean_hu": float(volume_hu[mask].mean()) if idx.size else 0.0,
        "spans_all_slices": float(z_extent >= n_slices and n_slices > 2),
    }


def candidates_find(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung: NDArray[np.bool_] | None = None,
    *,
    reference: bool = False,
) -> tuple[list[Candidate], NDArray[np.bool_]]:
    """Every candidate (before the decision) and the lung mask (computed unless given).

    ``reference``: the straightforward computation (whole-volume transforms), which gives the same
    candidates more slowly; kept for the equivalence tests and the bench."""
    if lung is None:
        lung = (_lung_mask_reference if reference else lung_mask)(volume_hu, spacing, params)
    dense = (volume_hu > params["nodule_hu"]) & lung
    out: list[Candidate] = []
    if not dense.any():
        return out, lung
    # work inside the dense voxels' bounding box (a few mm of margin): the distance transforms
    # over the whole field of view are most of the time otherwise
    margin = [math.ceil((max(_radii(params)) + params["regrow_mm"]) / s) + 2 for s in spacing]
    box = _bbox(dense) if not reference else ndi.find_objects(dense.astype(np.uint8))[0]
    crop = tuple(
        slice(max(b.start - m, 0), min(b.stop + m, dim))
        for b, m, dim in zip(box, margin, dense.shape, strict=True)
    )
    sub_hu = np.ascontiguousarray(volume_hu[crop])
    sub_dense = np.ascontiguousarray(dense[crop])
    radii = _radii(params)
    openings = _openings(sub_dense, radii, spacing) if not reference else [None] * len(radii)
    for radius, opened in zip(radii, openings, strict=True):
        if opened is None:
            found = _candidates_at_scale_reference(sub_hu, spacing, params, sub_dense, radius)
        else:
            found = _candidates_at_scale(sub_hu, spacing, params, sub_dense, radius, opened=opened)
        for cand in found:
            zz, yy, xx = np.unravel_index(cand.index, sub_hu.shape)
            index = np.ravel_multi_index(
                (zz + crop[0].start, yy + crop[1].start, xx + crop[2].start), volume_hu.shape
            )
            cand.features["spans_all_slices"] = float(
                cand.features["spans_all_slices"] and sub_hu.shape[0] == volume_hu.shape[0]
            )
            out.append(
                Candidate(
                    index=np.sort(index).astype(np.int64), shape=volume_hu.shape, features=cand.features
                )
            )
    return out, lung


def _radii(params: dict[str, Any]) -> list[float]:
    radii = params["open_mm"]
    return [float(r) for r in (radii if isinstance(radii, list | tuple) else [radii])]


def _candidates_at_scale(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    dense: NDArray[np.bool_],
    radius: float,
    opened: NDArray[np.bool_] | None = None,
) -> list[Candidate]:
    """Components of the dense voxels opened by a ball of ``radius`` mm (``opened``, when the
    caller has it), grown back."""
    if opened is None:
        opened = _openings(dense, [radius], spacing)[0]
    labels, n = ndi.label(opened)
    out: list[Candidate] = []
    if n == 0:
        return out
    sizes = np.bincount(labels.reshape(-1), minlength=n + 1)
    pad = [max(1, math.ceil((params["regrow_mm"] + SHELL_MM) / s) + 1) for s in spacing]
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        # the grown candidate holds the whole component: one already too big stays too big
        if (6.0 * int(sizes[i]) * float(np.prod(spacing)) / math.pi) ** (1.0 / 3.0) > 2.0 * params[
            "max_diameter_mm"
        ]:
            continue
        sl = tuple(
            slice(max(b.start - p, 0), min(b.stop + p, dim))
            for b, p, dim in zip(box, pad, volume_hu.shape, strict=True)
        )
        candidate = _candidate_grown(labels, i, sl, volume_hu=volume_hu, spacing=spacing, params=params,
                                     dense=dense, radius=radius)
        if candidate is not None:
            out.append(candidate)
    return out


def _candidate_grown(
    labels: NDArray[Any],
    i: int,
    sl: tuple[slice, ...],
    *,
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    dense: NDArray[np.bool_],
    radius: float,
) -> Candidate | None:
    """Component ``i`` of ``labels`` in the box ``sl``, regrown into the dense tissue and measured;
    None when its size rules it out."""
    comp = labels[sl] == i
    grown = _dilate_mm(comp, params["regrow_mm"], spacing) & dense[sl]
    # keep only the part connected to the component (regrowth must not bridge to a neighbour)
    glab, _ = ndi.label(grown)
    keep = np.unique(glab[comp & grown])
    grown = np.isin(glab, keep[keep > 0])
    vox = int(grown.sum())
    # quick size gate before the full features: skip specks and huge structures
    diameter = (6.0 * vox * float(np.prod(spacing)) / math.pi) ** (1.0 / 3.0)
    if diameter < 0.5 * params["min_diameter_mm"] or diameter > 2.0 * params["max_diameter_mm"]:
        return None
    features = candidate_features(grown, volume_hu[sl], spacing, n_slices=volume_hu.shape[0])
    features["open_mm"] = radius
    # vessels continue beyond the piece the opening kept; a nodule is surrounded by lung
    shell = _dilate_mm(grown, SHELL_MM, spacing) & ~grown
    features["attachment"] = float((shell & dense[sl]).sum() / max(int(shell.sum()), 1))
    zz, yy, xx = np.nonzero(grown)
    index = np.ravel_multi_index((zz + sl[0].start, yy + sl[1].start, xx + sl[2].start), volume_hu.shape)
    return Candidate(index=np.sort(index).astype(np.int64), shape=volume_hu.shape, features=features)


def _candidates_at_scale_reference(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    dense: NDArray[np.bool_],
    radius: float,
) -> list[Candidate]:
    """:func:`_candidates_at_scale` with whole-crop transforms (the reference)."""
    core = _erode_mm(dense, radius, spacing)
    opened = _dilate_mm(core, radius, spacing) & dense
    labels, n = ndi.label(opened)
    out: list[Candidate] = []
    if n == 0:
        return out
    for i, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        pad = [max(1, math.ceil((params["regrow_mm"] + SHELL_MM) / s) + 1) for s in spacing]
        sl = tuple(
            slice(max(b.start - p, 0), min(b.stop + p, dim))
            for b, p, dim in zip(box, pad, volume_hu.shape, strict=True)
        )
        candidate = _candidate_grown(labels, i, sl, volume_hu=volume_hu, spacing=spacing, params=params,
                                     dense=dense, radius=radius)
        if candidate is not None:
            out.append(candidate)
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0)))


def candidate_confidence(features: dict[str, Any], params: dict[str, Any]) -> float:
    """A soft version of the decision rule in 0..1 (0.5 at a criterion's limit; not calibrated)."""
    d = features["equivalent_diameter_mm"]
    terms = [
        _sigmoid((d - params["min_diameter_mm"]) / 0.5),
        _sigmoid((params["max_diameter_mm"] - d) / 2.0),
        _sigmoid((params["max_elongation"] - features["elongation"]) / 0.2),
        _sigmoid((features["fill"] - params["min_fill"]) / 0.05),
        _sigmoid((params["max_attachment"] - features.get("attachment", 0.0)) / 0.03),
    ]
    return float(np.prod(terms) ** (1.0 / len(terms)))


def candidate_accepted(features: dict[str, Any], params: dict[str, Any]) -> bool:
    return (
        params["min_diameter_mm"] <= features["equivalent_diameter_mm"] <= params["max_diameter_mm"]
        and features["elongation"] <= params["max_elongation"]
        and features["fill"] >= params["min_fill"]
        and features.get("attachment", 0.0) <= params["max_attachment"]
    )


def _axes_on_slice(
    mask2d: NDArray[np.bool_], dy: float, dx: float, origin_yx: tuple[int, int] = (0, 0)
) -> tuple[float, float]:
    """Long axis (largest Feret diameter) and the largest width perpendicular to it, in mm
    (``mask2d`` may be a crop holding the whole nodule, ``origin_yx`` its corner in the slice)."""
    offset = np.asarray(origin_yx, dtype=np.int64)
    pts = (np.argwhere(mask2d) + offset).astype(np.float64)
    if pts.shape[0] == 0:
        return 0.0, 0.0
    # pixel corners, so that a one-pixel nodule measures one pixel
    corners = np.concatenate([pts + off for off in ([-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5])]) * [
        dy,
        dx,
    ]
    if corners.shape[0] > 4000:  # the extreme points lie on the boundary: thin the interior out
        edge = mask2d & ~ndi.binary_erosion(mask2d)
        pts = (np.argwhere(edge) + offset).astype(np.float64)
        corners = np.concatenate(
            [pts + off for off in ([-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5])]
        ) * [dy, dx]
    diff = corners[:, None, :] - corners[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    a, b = np.unravel_index(int(np.argmax(dist)), dist.shape)
    long_axis = float(dist[a, b])
    direction = (corners[b] - corners[a]) / max(long_axis, 1e-9)
    normal = np.array([-direction[1], direction[0]])
    proj = corners @ normal
    return long_axis, float(proj.max() - proj.min())


def _lung_z_extent(lung: NDArray[np.bool_]) -> tuple[float, float] | None:
    """(bottom, top) slice of the lungs when the scan shows them end to end (no lung on its first
    and last slices), else None: a slab has no craniocaudal extent to place a nodule in."""
    lung_z = np.nonzero(lung.any(axis=(1, 2)))[0]
    if lung_z.size and lung_z[0] > 0 and lung_z[-1] < lung.shape[0] - 1:
        return float(lung_z[0]), float(lung_z[-1])  # internal z runs to superior
    return None


def nodule_measure(
    mask: NDArray[np.bool_],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung: NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Measurements of one nodule mask (z, y, x); centre in voxel (z, y, x) units."""
    extent = _lung_z_extent(lung) if lung is not None else None
    return _nodule_measure_crop(mask, volume_hu, spacing, params, extent, (0, 0))


def _nodule_measure_crop(
    mask: NDArray[np.bool_],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung_extent: tuple[float, float] | None,
    origin_yx: tuple[int, int],
) -> dict[str, Any]:
    """:func:`nodule_measure` on every slice of an in-plane crop holding the whole nodule (corner
    ``origin_yx``); same values as on the whole volume."""
    dz, dy, dx = spacing
    areas = mask.sum(axis=(1, 2))
    key = int(np.argmax(areas))
    long_axis, short_axis = _axes_on_slice(mask[key], dy, dx, origin_yx)
    values = volume_hu[mask]
    solid_fraction = float((values >= params["solid_hu"]).mean())
    calcified_fraction = float((values >= params["calcified_hu"]).mean())
    if solid_fraction >= params["solid_fraction_solid"]:
        kind = "solid"
    elif solid_fraction >= params["solid_fraction_part_solid"]:
        kind = "part-solid"
    else:
        kind = "ground-glass"
    zs = np.nonzero(areas)[0]
    voxels = np.nonzero(mask)
    count = int(voxels[0].size)
    upper: bool | None = None
    if lung_extent is not None:
        bottom, top = lung_extent
        centre_z = float(np.mean(voxels[0]))
        upper = (top - centre_z) / max(top - bottom, 1.0) <= params["upper_lobe_fraction"]
    # integer coordinate sums: exact, so the same centre as ndimage.center_of_mass on the volume
    offsets = (0, *origin_yx)
    centre = [(int(v.sum()) + count * o) / count for v, o in zip(voxels, offsets, strict=True)]
    return {
        "centre_zyx": centre,
        "key_slice": key,
        "slice_range": [int(zs.min()), int(zs.max())],
        "long_axis_mm": round(long_axis, 1),
        "short_axis_mm": round(short_axis, 1),
        "mean_diameter_mm": round((long_axis + short_axis) / 2.0, 1),
        "volume_mm3": round(float(mask.sum() * dz * dy * dx), 1),
        "mean_hu": round(float(values.mean()), 1),
        "solid_fraction": round(solid_fraction, 3),
        "type": kind,
        "calcified": calcified_fraction >= params["calcified_fraction"],
        "upper_lobe": upper,
        "touches_scan_edge": bool(zs.min() == 0 or zs.max() == mask.shape[0] - 1),
    }


def _nodule_measure_reference(
    mask: NDArray[np.bool_],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung: NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """:func:`nodule_measure` on the whole volume (the reference)."""
    dz, dy, dx = spacing
    areas = mask.sum(axis=(1, 2))
    key = int(np.argmax(areas))
    long_axis, short_axis = _axes_on_slice(mask[key], dy, dx)
    values = volume_hu[mask]
    solid_fraction = float((values >= params["solid_hu"]).mean())
    calcified_fraction = float((values >= params["calcified_hu"]).mean())
    if solid_fraction >= params["solid_fraction_solid"]:
        kind = "solid"
    elif solid_fraction >= params["solid_fraction_part_solid"]:
        kind = "part-solid"
    else:
        kind = "ground-glass"
    zs = np.nonzero(areas)[0]
    upper: bool | None = None
    if lung is not None:
        lung_z = np.nonzero(lung.any(axis=(1, 2)))[0]
        # only a scan that shows the lungs end to end (no lung on its first and last slices) has
        # a craniocaudal extent to place the nodule in; a slab does not
        if lung_z.size and lung_z[0] > 0 and lung_z[-1] < lung.shape[0] - 1:
            top, bottom = float(lung_z[-1]), float(lung_z[0])  # internal z runs to superior
            centre_z = float(np.mean(np.nonzero(mask)[0]))
            upper = (top - centre_z) / max(top - bottom, 1.0) <= params["upper_lobe_fraction"]
    return {
        "centre_zyx": [float(c) for c in ndi.center_of_mass(mask)],
        "key_slice": key,
        "slice_range": [int(zs.min()), int(zs.max())],
        "long_axis_mm": round(long_axis, 1),
        "short_axis_mm": round(short_axis, 1),
        "mean_diameter_mm": round((long_axis + short_axis) / 2.0, 1),
        "volume_mm3": round(float(mask.sum() * dz * dy * dx), 1),
        "mean_hu": round(float(values.mean()), 1),
        "solid_fraction": round(solid_fraction, 3),
        "type": kind,
        "calcified": calcified_fraction >= params["calcified_fraction"],
        "upper_lobe": upper,
        "touches_scan_edge": bool(zs.min() == 0 or zs.max() == mask.shape[0] - 1),
    }


def nodules_detect(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    *,
    reference: bool = False,
    seconds: dict[str, float] | None = None,
) -> tuple[NDArray[np.uint16], list[dict[str, Any]]]:
    """Label map (0 background, 1..n nodules by decreasing confidence) and the nodules' measurements.

    ``reference``: the straightforward whole-volume computation of the same result (slower; for
    the equivalence tests and the bench). ``seconds`` receives each stage's wall time."""
    clock = _StageClock(seconds)
    _validate(volume_hu, spacing)
    volume_hu = np.asarray(volume_hu, dtype=np.float32)
    lung = (_lung_mask_reference if reference else lung_mask)(volume_hu, spacing, params)
    clock.lap("lung")
    candidates, _ = candidates_find(volume_hu, spacing, params, lung=lung, reference=reference)
    clock.lap("candidates")
    decide = _nodules_decide_reference if reference else nodules_decide
    result = decide(candidates, volume_hu, spacing, params, lung)
    clock.lap("decide")
    return result


class _StageClock:
    """Wall time per stage into a caller's dict (nothing when it gives none)."""

    def __init__(self, seconds: dict[str, float] | None) -> None:
        self.seconds, self.t0 = seconds, time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.seconds is not None:
            now = time.perf_counter()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.t0
            self.t0 = now


def _overlap(a: NDArray[np.int64], b: NDArray[np.int64]) -> float:
    inter = int(np.intersect1d(a, b, assume_unique=True).size)
    return inter / max(min(a.size, b.size), 1)


def candidates_select(candidates: list[Candidate], params: dict[str, Any]) -> list[tuple[float, Candidate]]:
    """Accepted candidates by decreasing confidence, one per nodule: a candidate found again at
    another scale (overlapping by more than ``dedup_overlap`` of the smaller) is dropped."""
    accepted = [
        (candidate_confidence(c.features, params), c)
        for c in candidates
        if candidate_accepted(c.features, params)
    ]
    accepted.sort(key=lambda t: -t[0])
    kept: list[tuple[float, Candidate]] = []
    for conf, cand in accepted:
        if all(_overlap(cand.index, other.index) <= params["dedup_overlap"] for _, other in kept):
            kept.append((conf, cand))
    return kept


def nodules_decide(
    candidates: list[Candidate],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.uint16], list[dict[str, Any]]]:
    """Label the accepted candidates (a voxel goes to the first, most confident one) and measure
    each in its in-plane box."""
    accepted = candidates_select(candidates, params)
    labels = np.zeros(volume_hu.shape, dtype=np.uint16)
    flat = labels.reshape(-1)
    extent = _lung_z_extent(lung) if lung is not None else None
    nodules = []
    for n, (confidence, cand) in enumerate(accepted, start=1):
        index = cand.index[flat[cand.index] == 0]
        if not index.size:
            continue
        flat[index] = n
        zz, yy, xx = np.unravel_index(index, volume_hu.shape)
        y0, x0 = int(yy.min()), int(xx.min())
        mask = np.zeros((volume_hu.shape[0], int(yy.max()) + 1 - y0, int(xx.max()) + 1 - x0), dtype=bool)
        mask[zz, yy - y0, xx - x0] = True
        box = (slice(None), slice(y0, y0 + mask.shape[1]), slice(x0, x0 + mask.shape[2]))
        measured = _nodule_measure_crop(mask, volume_hu[box], spacing, params, extent, (y0, x0))
        nodule = {"id": n, **measured, "confidence": round(confidence, 3)}
        nodule["features"] = {k: round(v, 3) for k, v in cand.features.items()}
        nodules.append(nodule)
    return labels, nodules


def _nodules_decide_reference(
    candidates: list[Candidate],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    lung: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.uint16], list[dict[str, Any]]]:
    accepted = candidates_select(candidates, params)
    labels = np.zeros(volume_hu.shape, dtype=np.uint16)
    nodules = []
    for n, (confidence, cand) in enumerate(accepted, start=1):
        mask = cand.mask & (labels == 0)
        if not mask.any():
            continue
        labels[mask] = n
        nodule = {
            "id": n,
            **_nodule_measure_reference(mask, volume_hu, spacing, params, lung=lung),
            "confidence": round(confidence, 3),
        }
        nodule["features"] = {k: round(v, 3) for k, v in cand.features.items()}
        nodules.append(nodule)
    return labels, nodules


def nodule_grow_at(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    seed_zyx: tuple[int, int, int],
    radius_mm: float = 25.0,
) -> NDArray[np.bool_] | None:
    """The nodule under (or within 3 mm of) a clicked voxel, segmented as the detector does at each
    of its scales in a box of ``radius_mm`` around the click; a nodule-like candidate wins, then the
    more confident one. None when nothing dense is there."""
    pad = [max(2, math.ceil(radius_mm / s)) for s in spacing]
    sl = tuple(
        slice(max(c - p, 0), min(c + p + 1, dim))
        for c, p, dim in zip(seed_zyx, pad, volume_hu.shape, strict=True)
    )
    sub = np.asarray(volume_hu[sl], dtype=np.float32)
    local = tuple(c - s.start for c, s in zip(seed_zyx, sl, strict=True))
    near = np.zeros(sub.shape, dtype=bool)
    near[local] = True
    near = _dilate_mm(near, 3.0, spacing)
    dense = sub > params["nodule_hu"]
    best: tuple[bool, float, NDArray[np.bool_]] | None = None
    for radius in _radii(params):
        for cand in _candidates_at_scale(sub, spacing, params, dense, radius):
            if not (cand.mask & near).any():
                continue
            key = (
                candidate_accepted(cand.features, params),
                candidate_confidence(cand.features, params),
                cand.mask,
            )
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        return None
    full = np.zeros(volume_hu.shape, dtype=bool)
    full[sl] = best[2]
    return full


def nodule_measure_at(
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    params: dict[str, Any],
    seed_zyx: tuple[int, int, int],
) -> tuple[NDArray[np.bool_], dict[str, Any]] | None:
    """Click-to-measure: the grown nodule mask and its measurements (plus the detector's features)."""
    mask = nodule_grow_at(volume_hu, spacing, params, seed_zyx)
    if mask is None or not mask.any():
        return None
    features = candidate_features(mask, volume_hu, spacing)
    result = nodule_measure(mask, volume_hu, spacing, params)
    result["confidence"] = round(candidate_confidence(features, params), 3)
    result["nodule_like"] = candidate_accepted(features, params)
    result["features"] = {k: round(v, 3) for k, v in features.items()}
    return mask, result


# ---- model card and parameters ---------------------------------------------------------------


def params_load(card: ModelCard) -> dict[str, Any]:
    """The card's parameter file (hash-checked like any weights), over the defaults."""
    path = model_weights_verify(card=card)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    params = dict(DEFAULT_PARAMS)
    for name, value in (data.get("params") or {}).items():
        params[name] = [float(v) for v in value] if isinstance(value, list) else float(value)
    return params


def provenance(card: ModelCard) -> dict[str, str]:
    return {
        "key": card.key,
        "version": card.version,
        "weights_sha256": card.weights_sha256,
        "task": card.task,
        "notice": NOTICE,
    }


def _centre_lps(volume: Any, mask_zyx: NDArray[np.bool_]) -> list[float]:
    """Centre of a nodule in DICOM patient coordinates (LPS, mm) through the input's own affine."""
    ijk = ndi.center_of_mass(volume.from_internal(mask_zyx.astype(np.uint8)))
    return _lps_of_ijk(volume, ijk)


def _lps_of_ijk(volume: Any, ijk: Any) -> list[float]:
    ras = volume.affine_ras @ np.array([*ijk, 1.0])
    return [round(float(-ras[0]), 1), round(float(-ras[1]), 1), round(float(ras[2]), 1)]


def _centres_lps(volume: Any, labels: NDArray[np.uint16]) -> dict[int, list[float]]:
    """:func:`_centre_lps` of every label, from each label's box: :meth:`Volume.from_internal`
    permutes and flips the axes, so the centre is the same ratio of exact integer coordinate sums
    that ``center_of_mass`` takes on the whole volume."""
    # a probe with a different size per axis tells where each internal axis goes and whether it
    # is flipped (its first voxel there comes from the axis's last index)
    probe = np.arange(24).reshape(2, 3, 4)
    moved = volume.from_internal(probe)
    first = np.unravel_index(int(moved.flat[0]), probe.shape)
    axes = [(probe.shape.index(size), bool(first[probe.shape.index(size)])) for size in moved.shape]
    out: dict[int, list[float]] = {}
    for n, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        voxels = np.nonzero(labels[box] == n)
        count = int(voxels[0].size)
        sums_zyx = [int(v.sum()) + count * b.start for v, b in zip(voxels, box, strict=True)]
        ijk = []
        for internal, flipped in axes:
            total = sums_zyx[internal]
            if flipped:
                total = count * (labels.shape[internal] - 1) - total
            ijk.append(total / count)
        out[n] = _lps_of_ijk(volume, ijk)
    return out


def run_lung_nodule(
    volume_hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    version: str | None = None,
    volume: Any = None,
    reference: bool = False,
    seconds: dict[str, float] | None = None,
) -> tuple[NDArray[np.uint16], dict[str, Any]]:
    """Detect nodules in a CT volume in the internal order; returns labels and the findings dict.

    With ``volume`` (the :class:`inference.runtime.io.Volume` read) each nodule's centre is also
    given in patient coordinates (DICOM LPS, mm). ``reference``, ``seconds``: see
    :func:`nodules_detect`."""
    card = model_card_get(key=MODEL_KEY, version=version)
    params = params_load(card)
    labels, nodules = nodules_detect(volume_hu, spacing_mm, params, reference=reference, seconds=seconds)
    clock = _StageClock(seconds)
    centres = {} if volume is None or reference else _centres_lps(volume, labels)
    for nodule in nodules:
        if volume is None:
            nodule["centre_lps_mm"] = None
        else:
            nodule["centre_lps_mm"] = (
                _centre_lps(volume, labels == nodule["id"]) if reference else centres[nodule["id"]]
            )
    clock.lap("centres")
    findings = {
        "model": provenance(card),
        "nodule_count": len(nodules),
        "nodules": nodules,
        "input": {"shape_zyx": list(volume_hu.shape), "spacing_mm": [float(s) for s in spacing_mm]},
        "units": {
            "long_axis_mm": "mm",
            "short_axis_mm": "mm",
            "mean_diameter_mm": "mm",
            "volume_mm3": "mm3",
            "mean_hu": "[hnsf'U]",
        },
        "confidence": "soft version of the hand-tuned decision rule (size, elongation, fill); NOT a calibrated probability",
        "upper_lobe": "derived only when the scan shows both lungs end to end: nodule centre in the upper "
        f"{params['upper_lobe_fraction']:.0%} of the lungs' craniocaudal extent (an approximation of the upper lobe, no fissure detection)",
        "notice": NOTICE,
    }
    return labels, findings


CSV_COLUMNS = (
    "nodule_id",
    "centre_x_mm",
    "centre_y_mm",
    "centre_z_mm",
    "long_axis_mm",
    "short_axis_mm",
    "mean_diameter_mm",
    "volume_mm3",
    "type",
    "mean_hu",
    "calcified",
    "upper_lobe",
    "confidence",
)


def nodules_csv_rows(nodules: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for n in nodules:
        centre = n.get("centre_lps_mm") or [None, None, None]
        upper = n.get("upper_lobe")
        rows.append(
            [
                n["id"],
                *centre,
                n["long_axis_mm"],
                n["short_axis_mm"],
                n["mean_diameter_mm"],
                n["volume_mm3"],
                n["type"],
                n["mean_hu"],
                "yes" if n["calcified"] else "no",
                "unknown" if upper is None else ("yes" if upper else "no"),
                n["confidence"],
            ]
        )
    return rows


def nodule_run_on_path(*, input_path: Path, out_dir: Path, version: str | None = None) -> dict[str, Any]:
    """``run_model lung_nodule_ct``: OUTDIR gets ``labels.nii.gz`` (the input's own grid and affine;
    0 background, one integer per nodule), ``nodules.csv``, ``findings.json`` and, for DICOM input,
    ``seg.dcm``."""
    if not input_path.exists():
        raise ModelInputInvalid("input does not exist", detail={"input": str(input_path)})
    volume = volume_read(input_path)
    hu, spacing = volume.internal()
    labels, findings = run_lung_nodule(hu, spacing, version=version, volume=volume)
    if int(labels.max(initial=0)) > 255:
        raise ModelInputInvalid("more than 255 nodules proposed", code="too_many_nodules")
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_nifti_write(volume=volume, labels_zyx=labels.astype(np.uint8), path=out_dir / "labels.nii.gz")
    with (out_dir / "nodules.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(nodules_csv_rows(findings["nodules"]))
    outputs = ["labels.nii.gz", "nodules.csv", "findings.json"]
    seg_file_write(
        volume=volume,
        build=lambda: seg_dicom_nodules_from_volume(
            labels_zyx=labels, volume=volume, model=findings["model"]
        ),
        out_dir=out_dir,
        findings=findings,
        outputs=outputs,
    )
    findings["input"]["kind"] = volume.kind
    findings["centre_coordinates"] = (
        "centre_lps_mm and the CSV's centre_*_mm: DICOM patient coordinates (LPS), mm"
    )
    (out_dir / "findings.json").write_text(json.dumps(findings, indent=2) + "\n")
    return {"model": findings["model"], "outputs": outputs, "nodule_count": findings["nodule_count"]}


class NoNoduleAtPoint(ModelInputInvalid):
    code = "no_nodule_at_point"
    status_code = 422


def _runs(mask2d: NDArray[np.bool_]) -> list[list[int]]:
    """Runs of a slice's mask as [row, first column, last column] (inclusive)."""
    out: list[list[int]] = []
    for row in np.nonzero(mask2d.any(axis=1))[0]:
        line = np.concatenate([[0], mask2d[row].astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(line))
        out.extend([int(row), int(a), int(b) - 1] for a, b in zip(edges[::2], edges[1::2], strict=True))
    return out


def nodule_measure_in_series(
    datasets: list[Any],
    *,
    sop_instance_uid: str | None = None,
    row: int | None = None,
    column: int | None = None,
    point_lps_mm: list[float] | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Click-to-measure on a DICOM series: the clicked image and pixel (or a patient-coordinate
    point) -> the nodule's outline per image (runs of pixels) and its measurements."""

    volume = dicom_series_from_datasets(datasets)
    hu, spacing = volume.internal()
    shape_ijk = volume.data_ijk.shape
    if point_lps_mm is not None:
        x, y, z = (float(v) for v in point_lps_mm)
        ijk = np.linalg.inv(volume.affine_ras) @ np.array([-x, -y, z, 1.0])
        i, j, k = (round(float(v)) for v in ijk[:3])
    else:
        uids = [str(ds.SOPInstanceUID) for ds in volume.datasets]
        if sop_instance_uid not in uids or row is None or column is None:
            raise ModelInputInvalid("the clicked image is not in the series", code="point_outside_series")
        i, j, k = int(column), int(row), uids.index(str(sop_instance_uid))
    if not (0 <= i < shape_ijk[0] and 0 <= j < shape_ijk[1] and 0 <= k < shape_ijk[2]):
        raise ModelInputInvalid(
            "the point lies outside the series",
            code="point_outside_series",
            detail={"column": i, "row": j, "slice": k},
        )
    marker = np.zeros(shape_ijk, dtype=np.uint8)
    marker[i, j, k] = 1
    seed = tuple(
        int(v)
        for v in np.argwhere(
            Volume(data_ijk=marker, affine_ras=volume.affine_ras, kind="dicom").internal()[0]
        )[0]
    )
    card = model_card_get(key=MODEL_KEY, version=version)
    params = params_load(card)
    found = nodule_measure_at(hu, spacing, params, (seed[0], seed[1], seed[2]))
    if found is None:
        raise NoNoduleAtPoint(
            "no nodule-like structure at the point", detail={"column": i, "row": j, "slice": k}
        )
    mask, measured = found
    measured["centre_lps_mm"] = _centre_lps(volume, mask)
    measured.pop("centre_zyx", None)
    mask_ijk = volume.from_internal(mask.astype(np.uint8)).astype(bool)
    outline: list[dict[str, Any]] = []
    areas: list[int] = []
    for kk in range(mask_ijk.shape[2]):
        if mask_ijk[:, :, kk].any():
            ds = volume.datasets[kk]
            outline.append(
                {
                    "sop_instance_uid": str(ds.SOPInstanceUID),
                    "runs": _runs(mask_ijk[:, :, kk].T),
                    # to place the runs in patient space: point(row, column) = position + column * spacing[1] *
                    # row_cosines + row * spacing[0] * column_cosines
                    "position_lps_mm": [float(v) for v in ds.ImagePositionPatient],
                    "row_cosines": [float(v) for v in ds.ImageOrientationPatient[:3]],
                    "column_cosines": [float(v) for v in ds.ImageOrientationPatient[3:]],
                    "pixel_spacing_mm": [float(v) for v in ds.PixelSpacing],
                }
            )
            areas.append(int(mask_ijk[:, :, kk].sum()))
    for internal_only in ("key_slice", "slice_range"):
        measured.pop(internal_only, None)
    measured["key_sop_instance_uid"] = outline[int(np.argmax(areas))]["sop_instance_uid"]
    return {
        "model": provenance(card),
        "nodule": measured,
        "outline": outline,
        "outline_format": "per image: runs of [row, first column, last column] of the nodule's pixels",
        "notice": NOTICE,
    }
