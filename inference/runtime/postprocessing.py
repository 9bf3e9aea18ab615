"""Post-processing of liver label maps into findings with measurements. Numpy and scipy; no torch.

Labels: 0 background, 1 liver, 2 liver lesion (lesion voxels count as liver for the liver volume).
Every measurement is a ``{"value", "unit"}`` pair (UCUM units).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

UNIT_ML = "mL"
UNIT_MM = "mm"
UNIT_HU = "[hnsf'U]"


def _box(mask: NDArray[np.bool_], *, margin: int = 0) -> tuple[slice, ...] | None:
    """The smallest box holding every true voxel of ``mask``, grown by ``margin`` (within the array)."""
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if present.size == 0:
            return None
        box.append(slice(max(int(present[0]) - margin, 0), min(int(present[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def labels_clean(
    labels: NDArray[np.uint8], *, spacing: tuple[float, float, float], settings: dict[str, Any]
) -> NDArray[np.uint8]:
    """Keep the largest liver component; drop lesions outside it, lesions that lie mostly outside the
    liver (``lesion_min_liver_contact``, optional) and lesions below ``min_lesion_ml``.

    Works in the box around the labelled voxels, grown by one voxel so that every lesion's outer
    shell is whole: the same result as on the whole volume, where labelling ten million mostly
    empty voxels was most of the time. Components keep their numbering (the box keeps the scan order).
    """
    out = labels.copy()
    box = _box(labels > 0, margin=1)
    if box is not None:
        out[box] = _labels_clean_dense(labels[box], spacing=spacing, settings=settings)
    return out


def _labels_clean_dense(
    labels: NDArray[np.uint8], *, spacing: tuple[float, float, float], settings: dict[str, Any]
) -> NDArray[np.uint8]:
    largest = bool(settings.get("largest_liver_component", True))
    out = _largest_organ_keep(labels.copy()) if largest else labels.copy()
    contact = float(settings.get("lesion_min_liver_contact", 0.0))
    if contact > 0:
        out, dropped = _lesions_outside_liver_drop(out, min_contact=contact)
        if largest and dropped:  # a dropped mass may have been the bridge to a stray organ component
            out = _largest_organ_keep(out)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    min_ml = float(settings.get("min_lesion_ml", 0.0))
    if min_ml > 0:
        comp, n = ndimage.label(out == 2, structure=np.ones((3, 3, 3), bool))
        if n:
            sizes = ndimage.sum_labels(out == 2, comp, index=np.arange(1, n + 1)) * voxel_ml
            small = np.flatnonzero(sizes < min_ml) + 1
            out[np.isin(comp, small)] = 1
    return out


def _largest_organ_keep(out: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """In place: zero every organ (liver or lesion) voxel outside the largest 26-connected organ component."""
    organ = out > 0
    if organ.any():
        comp, n = ndimage.label(organ, structure=np.ones((3, 3, 3), bool))
        if n > 1:
            sizes = ndimage.sum_labels(organ, comp, index=np.arange(1, n + 1))
            out[(comp != int(np.argmax(sizes)) + 1) & organ] = 0
    return out


def _lesions_outside_liver_drop(
    labels: NDArray[np.uint8], *, min_contact: float
) -> tuple[NDArray[np.uint8], int]:
    """A liver lesion lies in the liver: drop (to background) each lesion component whose outer shell
    is less than ``min_contact`` liver. Returns the labels and how many components were dropped.

    Catches masses next to the liver (adrenal, kidney, bowel, heart) that the network labels lesion
    because they touch it; the liver voxels themselves are kept.
    """
    out = labels.copy()
    comp, n = ndimage.label(out == 2, structure=np.ones((3, 3, 3), bool))
    if not n:
        return out, 0
    dropped = 0
    for k, box in enumerate(ndimage.find_objects(comp), start=1):
        if box is None:
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        mask = comp[box] == k
        shell = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), bool)) & ~mask
        around = out[box][shell]
        if around.size and float((around == 1).mean()) < min_contact:
            out[box][mask] = 0
            dropped += 1
    return out, dropped


def longest_axial_diameter_mm(mask_yx: NDArray[np.bool_], *, spacing_yx: tuple[float, float]) -> float:
    """Largest distance between two points of a 2D mask, measured on pixel corners (physical extent)."""
    ys, xs = np.nonzero(mask_yx)
    if ys.size == 0:
        return 0.0
    corners = np.concatenate(
        [
            np.stack([(ys + dy) * spacing_yx[0], (xs + dx) * spacing_yx[1]], axis=1)
            for dy in (0, 1)
            for dx in (0, 1)
        ]
    )
    try:
        pts = corners[ConvexHull(corners).vertices]
    except (QhullError, ValueError):
        pts = corners
    if pts.shape[0] > 2000:  # hull vertices are few in practice; bound the pairwise step anyway
        pts = pts[:: pts.shape[0] // 2000 + 1]
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    return float(d.max())


def _lesion_components(labels: NDArray[np.uint8]) -> list[tuple[tuple[slice, ...], NDArray[np.bool_]]]:
    """Each 26-connected lesion component, in scan order: its box in ``labels`` and its mask there.

    Labelled in the box around all lesions (the same components in the same order), and each
    measured in its own box: the whole volume once per lesion was most of the findings' time.
    """
    box = _box(labels == 2)
    if box is None:
        return []
    comp, _ = ndimage.label(labels[box] == 2, structure=np.ones((3, 3, 3), bool))
    found = []
    for idx, local in enumerate(ndimage.find_objects(comp), start=1):
        if local is not None:
            sl = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, local, strict=True))
            found.append((sl, comp[local] == idx))
    return found


def findings_compute(
    *,
    labels: NDArray[np.uint8],
    volume_hu: NDArray[Any],
    spacing: tuple[float, float, float],
    lesion_prob_u8: NDArray[np.uint8] | None = None,
    lesion_votes: NDArray[np.uint8] | None = None,
    n_tta: int = 1,
) -> dict[str, Any]:
    """Liver volume, lesion count and per-lesion volume, longest axial diameter, mean HU, slice
    range and test-time-augmentation confidence."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    liver = labels > 0
    lesions = []
    for idx, (sl, m) in enumerate(_lesion_components(labels), start=1):
        z0 = sl[0].start
        per_slice = [
            longest_axial_diameter_mm(m[k], spacing_yx=(spacing[1], spacing[2]))
            for k in range(m.shape[0])
            if m[k].any()
        ]
        hu = volume_hu[sl][m]
        entry: dict[str, Any] = {
            "id": idx,
            "volume": {"value": round(float(m.sum()) * voxel_ml, 3), "unit": UNIT_ML},
            "longest_axial_diameter": {"value": round(max(per_slice), 1), "unit": UNIT_MM},
            "mean_density": {"value": round(float(hu.mean()), 1), "unit": UNIT_HU},
            "slice_range": [
                int(z0 + np.flatnonzero(m.any(axis=(1, 2)))[0]),
                int(z0 + np.flatnonzero(m.any(axis=(1, 2)))[-1]),
            ],
            "centroid_zyx": [round(float(c) + s.start, 1) for c, s in zip(ndimage.center_of_mass(m), sl, strict=True)],
        }
        if lesion_prob_u8 is not None:
            entry["confidence"] = round(float(lesion_prob_u8[sl][m].mean()) / 255.0, 3)
        if lesion_votes is not None:
            entry["tta_agreement"] = round(float((lesion_votes[sl][m] >= n_tta).mean()), 3)
        lesions.append(entry)
    lesions.sort(key=lambda e: -e["volume"]["value"])
    for rank, entry in enumerate(lesions, start=1):
        entry["id"] = rank
    return {
        "liver": {
            "present": bool(liver.any()),
            "volume": {"value": round(float(liver.sum()) * voxel_ml, 1), "unit": UNIT_ML},
            "mean_density": {
                "value": round(float(volume_hu[liver].mean()), 1) if liver.any() else None,
                "unit": UNIT_HU,
            },
        },
        "lesion_count": len(lesions),
        "lesions": lesions,
        "slice_index_convention": "0 = most inferior slice of the series (sorted by position along the slice normal)",
    }


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Dice coefficient; 1.0 when both masks are empty."""
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s
