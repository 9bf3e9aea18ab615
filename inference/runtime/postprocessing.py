"""Post-processing of liver label maps into findings with measurements. Numpy and scipy; no torch.

Labels: 0 background, 1 liver, 2 liver lesion (lesion voxels count as liver for the liver volume).
Every measurement is a ``{"value", "unit"}`` pair (UCUM units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack

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
    measured in its own box, so the cost follows the lesions' size rather than the volume's.
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


# Lesion-level features of a candidate lesion, in the order a card's ``lesion_rule`` weighs them.
# Each is a plain number on a scale of about 0..1 (the volume as log10 mL) so that the rule's
# logistic weights read directly.
RULE_FEATURES = (
    "mean_probability",  # mean TTA-averaged lesion probability over the candidate's voxels
    "tta_agreement",  # fraction of its voxels labelled lesion by every TTA pass
    "log10_volume_ml",
    "abs_contrast_hu_100",  # |mean HU of the liver around it - its mean HU| / 100
    "solidity",  # area / convex-hull area of its largest cross-section
    "liver_contact",  # fraction of its outer shell that is liver
)
# How far around a candidate its surrounding liver is sampled for the contrast (mm).
_SURROUND_MM = 5.0


@dataclass
class LesionCandidate:
    """One 26-connected lesion component: where it is, its mask in that box and its features."""

    box: tuple[slice, ...]
    mask: NDArray[np.bool_]
    features: dict[str, float]
    key_slice: int
    slice_range: tuple[int, int]
    confidence: float | None = None
    reason: str | None = None  # why it is not proposed; None when it is

    @property
    def proposed(self) -> bool:
        return self.reason is None


def _convex_area_px(mask_yx: NDArray[np.bool_]) -> float:
    """Area (pixels) of the convex hull of the pixel squares of a 2D mask."""
    ys, xs = np.nonzero(mask_yx)
    corners = np.concatenate([np.stack([ys + dy, xs + dx], axis=1) for dy in (0, 1) for dx in (0, 1)])
    try:
        return float(ConvexHull(corners.astype(np.float64)).volume)
    except (QhullError, ValueError):
        return float(ys.size)


def _line(axis: int) -> tuple[int, int, int]:
    """The shape of a 3-long line structure along ``axis`` of a 3D array."""
    return (3 if axis == 0 else 1, 3 if axis == 1 else 1, 3 if axis == 2 else 1)


class LesionInputs(TypedDict):
    """The keyword arguments of :func:`lesion_candidates` and :func:`findings_compute`: labels,
    the CT in HU, its spacing, and optionally the TTA-mean lesion probability (uint8, 255 = 1.0),
    the TTA lesion votes and the number of TTA passes."""

    labels: NDArray[np.uint8]
    volume_hu: NDArray[Any]
    spacing: tuple[float, float, float]
    lesion_prob_u8: NotRequired[NDArray[np.uint8] | None]
    lesion_votes: NotRequired[NDArray[np.uint8] | None]
    n_tta: NotRequired[int]


def lesion_candidates(**inputs: Unpack[LesionInputs]) -> list[LesionCandidate]:
    """Every lesion component of ``labels`` with the features a lesion-level rule weighs.

    Besides :data:`RULE_FEATURES`: ``volume_ml``, ``liver_fraction`` (its volume over the whole
    organ's), ``slices`` (how many slices it spans), ``spans_scan`` (1.0 when it reaches both the
    first and the last slice of the series, so that its extent is cut off at both ends) and
    ``contrast_hu`` (signed: positive when darker than the liver around it). ``key_slice`` is the
    slice of its largest cross-section. Without a probability map the probability features are 1.0.
    """
    labels, volume_hu, spacing = inputs["labels"], inputs["volume_hu"], inputs["spacing"]
    lesion_prob_u8, lesion_votes = inputs.get("lesion_prob_u8"), inputs.get("lesion_votes")
    n_tta = inputs.get("n_tta", 1)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    organ_ml = float((labels > 0).sum()) * voxel_ml
    nz = labels.shape[0]
    grow = tuple(max(round(_SURROUND_MM / s), 1) for s in spacing)
    out = []
    for sl, m in _lesion_components(labels):
        z0 = sl[0].start
        present = np.flatnonzero(m.any(axis=(1, 2)))
        areas = m.sum(axis=(1, 2))
        key_local = int(np.argmax(areas))
        # the box grown by the surround (clipped at the array's edge), the mask placed in it
        big = tuple(
            slice(max(s.start - g, 0), min(s.stop + g, n)) for s, g, n in zip(sl, grow, labels.shape, strict=True)
        )
        inner = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(sl, big, strict=True))
        mb = np.zeros(tuple(b.stop - b.start for b in big), bool)
        mb[inner] = m
        lab_b = labels[big]
        shell = ndimage.binary_dilation(mb, structure=np.ones((3, 3, 3), bool)) & ~mb
        around = lab_b[shell]
        contact = float((around == 1).mean()) if around.size else 0.0
        # a box-shaped surround of about _SURROUND_MM on every axis: one 1D dilation per axis
        near = mb
        for axis, g in enumerate(grow):
            near = ndimage.binary_dilation(near, structure=np.ones(_line(axis), bool), iterations=g)
        ring = near & ~mb & (lab_b == 1)
        hu_in = float(volume_hu[sl][m].mean())
        hu_ring = float(volume_hu[big][ring].mean()) if ring.any() else hu_in
        prob = float(lesion_prob_u8[sl][m].mean()) / 255.0 if lesion_prob_u8 is not None else 1.0
        agree = float((lesion_votes[sl][m] >= n_tta).mean()) if lesion_votes is not None else 1.0
        volume_ml = float(m.sum()) * voxel_ml
        feats = {
            "mean_probability": prob,
            "tta_agreement": agree,
            "log10_volume_ml": float(np.log10(max(volume_ml, 1e-3))),
            "abs_contrast_hu_100": abs(hu_ring - hu_in) / 100.0,
            "solidity": float(areas[key_local]) / max(_convex_area_px(m[key_local]), 1.0),
            "liver_contact": contact,
            "volume_ml": volume_ml,
            "liver_fraction": volume_ml / organ_ml if organ_ml else 1.0,
            "slices": float(present.size),
            "spans_scan": float(nz > 1 and z0 + present[0] == 0 and z0 + present[-1] == nz - 1),
            "contrast_hu": hu_ring - hu_in,
        }
        out.append(
            LesionCandidate(
                box=sl,
                mask=m,
                features=feats,
                key_slice=int(z0 + key_local),
                slice_range=(int(z0 + present[0]), int(z0 + present[-1])),
            )
        )
    return out


def lesion_confidence(features: dict[str, float], *, rule: dict[str, Any]) -> float:
    """The rule's calibrated lesion-level confidence: a logistic function of :data:`RULE_FEATURES`."""
    weights = rule["weights"]
    z = float(rule["intercept"]) + sum(float(weights[name]) * float(features[name]) for name in RULE_FEATURES)
    return float(1.0 / (1.0 + np.exp(-z)))


def lesion_rule_reason(features: dict[str, float], confidence: float, *, rule: dict[str, Any]) -> str | None:
    """Why a candidate is not proposed under ``rule`` (the card's ``lesion_rule``), or None.

    The plausibility guards come first (a focal lesion is bounded within the scan and smaller than
    a stated fraction of the liver); then the minimum confidence.
    """
    guards = rule.get("guards", {})
    if guards.get("spans_scan", True) and features["spans_scan"] >= 1.0:
        return "spans_scan"
    if features["liver_fraction"] > float(guards.get("max_liver_fraction", 1.0)):
        return "larger_than_liver_fraction"
    if confidence < float(rule["min_confidence"]):
        return "below_min_confidence"
    return None


def lesions_decide(
    *, labels: NDArray[np.uint8], candidates: list[LesionCandidate], rule: dict[str, Any] | None
) -> NDArray[np.uint8]:
    """Score every candidate with ``rule`` (in place) and return the labels where each candidate that
    is not proposed is liver again (it lay in the liver: the clean-up dropped those that did not)."""
    if rule is None:
        for cand in candidates:
            cand.confidence = None
            cand.reason = None
        return labels
    out = labels.copy()
    for cand in candidates:
        cand.confidence = lesion_confidence(cand.features, rule=rule)
        cand.reason = lesion_rule_reason(cand.features, cand.confidence, rule=rule)
        if not cand.proposed:
            out[cand.box][cand.mask] = 1
    return out


def findings_compute(
    *, candidates: list[LesionCandidate] | None = None, **inputs: Unpack[LesionInputs]
) -> dict[str, Any]:
    """Liver volume, lesion count and per-lesion volume, longest axial diameter, mean HU, slice
    range, key slice and confidence.

    With ``candidates`` (scored by :func:`lesions_decide`; ``labels`` are then its output), only the
    proposed ones are lesions, each with the rule's confidence; the others are summarised under
    ``lesion_candidates_not_proposed`` with the reason. Without, every lesion component of
    ``labels`` is a lesion and its confidence is the mean TTA lesion probability.
    """
    labels, volume_hu, spacing = inputs["labels"], inputs["volume_hu"], inputs["spacing"]
    lesion_prob_u8, lesion_votes = inputs.get("lesion_prob_u8"), inputs.get("lesion_votes")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    liver = labels > 0
    if candidates is None:
        candidates = lesion_candidates(**inputs)
    lesions = []
    not_proposed = []
    for cand in candidates:
        sl, m = cand.box, cand.mask
        if not cand.proposed:
            not_proposed.append(
                {
                    "reason": cand.reason,
                    "confidence": None if cand.confidence is None else round(cand.confidence, 3),
                    "volume": {"value": round(cand.features["volume_ml"], 3), "unit": UNIT_ML},
                    "slice_range": list(cand.slice_range),
                    "key_slice": cand.key_slice,
                }
            )
            continue
        per_slice = [
            longest_axial_diameter_mm(m[k], spacing_yx=(spacing[1], spacing[2]))
            for k in range(m.shape[0])
            if m[k].any()
        ]
        hu = volume_hu[sl][m]
        entry: dict[str, Any] = {
            "id": 0,
            "volume": {"value": round(float(m.sum()) * voxel_ml, 3), "unit": UNIT_ML},
            "longest_axial_diameter": {"value": round(max(per_slice), 1), "unit": UNIT_MM},
            "mean_density": {"value": round(float(hu.mean()), 1), "unit": UNIT_HU},
            "slice_range": list(cand.slice_range),
            "key_slice": cand.key_slice,
            "centroid_zyx": [round(float(c) + s.start, 1) for c, s in zip(ndimage.center_of_mass(m), sl, strict=True)],
        }
        if lesion_prob_u8 is not None:
            entry["mean_probability"] = round(cand.features["mean_probability"], 3)
            entry["confidence"] = round(
                cand.features["mean_probability"] if cand.confidence is None else cand.confidence, 3
            )
        if lesion_votes is not None:
            entry["tta_agreement"] = round(cand.features["tta_agreement"], 3)
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
        "lesion_candidates_not_proposed": not_proposed,
        "slice_index_convention": "0 = most inferior slice of the series (sorted by position along the slice normal)",
    }


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Dice coefficient; 1.0 when both masks are empty."""
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s
