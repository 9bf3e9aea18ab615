"""Liver and liver-lesion segmentation of a CT series (2D U-Net++ over adjacent-slice stacks).

Per chunk of axial slices: HU window -> in-plane resampling to the card's spacing -> centre
crop/pad to a fixed size -> forward with test-time augmentation (identity and flips named by the
card) -> mean softmax -> back to the slice's own grid (bilinear on probabilities, one chunk at a
time) -> argmax to uint8. Memory stays bounded: only uint8 full-resolution maps (labels, lesion
probability, TTA votes) are kept for the whole volume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NotRequired, TypedDict, Unpack

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from inference.registry import ModelInputInvalid
from inference.runtime.postprocessing import (
    RULE_FEATURES,
    LesionInputs,
    findings_compute,
    labels_clean,
    lesion_candidates,
    lesions_decide,
)
from inference.runtime.predictor import (
    LoadedModel,
    Precision,
    bf16_autocast,
    model_load,
    precision_configured,
    runtime_of,
)
from inference.runtime.preprocessing import ct_inplane_shape, ct_window


def _validate(volume_hu: NDArray[Any], spacing_mm: tuple[float, float, float]) -> None:
    if volume_hu.ndim != 3 or min(volume_hu.shape) < 1 or min(volume_hu.shape[1:]) < 16:
        raise ModelInputInvalid("expected a CT volume (z, y, x)", detail={"shape": list(volume_hu.shape)})
    if len(spacing_mm) != 3 or not all(np.isfinite(s) and 0 < s < 50 for s in spacing_mm):
        raise ModelInputInvalid(
            "spacing must be three positive millimetre values", detail={"spacing": list(spacing_mm)}
        )
    lo, hi = float(np.min(volume_hu)), float(np.max(volume_hu))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -4000 or hi > 40000:
        raise ModelInputInvalid("values do not look like Hounsfield units", code="input_not_hounsfield")


def _lowres_slices(
    volume_hu: NDArray[Any], spacing: tuple[float, float, float], settings: dict[str, Any], z0: int, z1: int
) -> torch.Tensor:
    """Slices z0..z1-1, windowed, resampled in-plane and centre-cropped/padded: (n, S, S) float32."""
    lo, hi = settings["window_hu"]
    target = float(settings["spacing_mm"])
    size = int(settings["size"])
    h, w = volume_hu.shape[1:]
    rh, rw = ct_inplane_shape(shape_yx=(h, w), spacing_yx=(spacing[1], spacing[2]), target=target)
    x = torch.from_numpy(ct_window(np.asarray(volume_hu[z0:z1]), lo=lo, hi=hi))[:, None]
    x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=(rh < h or rw < w))[
        :, 0
    ]
    oy, ox = (rh - size) // 2, (rw - size) // 2
    out = torch.zeros((x.shape[0], size, size), dtype=torch.float32)
    sy0, sx0, dy0, dx0 = max(oy, 0), max(ox, 0), max(-oy, 0), max(-ox, 0)
    ny, nx = min(rh - sy0, size - dy0), min(rw - sx0, size - dx0)
    out[:, dy0 : dy0 + ny, dx0 : dx0 + nx] = x[:, sy0 : sy0 + ny, sx0 : sx0 + nx]
    return out


def class_argmax(scores: torch.Tensor) -> torch.Tensor:
    """``scores.argmax(dim=1)`` as uint8, the same labels (the first class wins a tie).

    Built from element-wise maxima: torch's argmax over the class dimension of an (N, C, H, W)
    tensor is a strided reduction that took about 0.35 s per 8 slices of 512 x 512 on this
    project's CPU, longer than the rest of the post-processing together; this takes about 10 ms.
    """
    best = scores[:, 0]
    labels = torch.zeros(best.shape, dtype=torch.uint8, device=scores.device)
    for k in range(1, scores.shape[1]):
        better = scores[:, k] > best
        labels[better] = k
        best = torch.maximum(best, scores[:, k])
    return labels


def _tta_apply(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "identity":
        return x
    if name == "flip_x":
        return torch.flip(x, dims=[-1])
    if name == "flip_y":
        return torch.flip(x, dims=[-2])
    raise ModelInputInvalid("unknown test-time augmentation", code="model_card_invalid", detail={"tta": name})


def _stack(low: torch.Tensor, zs: torch.Tensor, *, context: int, nz: int, base: int) -> torch.Tensor:
    """Adjacent-slice stacks (len(zs), 2*context+1, S, S) for slices ``zs`` from ``low`` (slice ``base`` first)."""
    idx = zs[:, None] + torch.arange(-context, context + 1)[None, :]
    return low[idx.clamp(0, nz - 1) - base]


def tta_probs(net: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """Softmax (float32) of the network's output on ``x`` seen through the test-time transform ``name``."""
    return torch.softmax(_tta_apply(net(_tta_apply(x, name)), name).float(), dim=1)


def _to_slice_grid(
    probs: torch.Tensor,
    vote: torch.Tensor,
    *,
    canvas_shape: tuple[int, int],
    slice_shape: tuple[int, int],
    size: int,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Mean probabilities and lesion votes on the network's crop -> labels, lesion probability and
    votes on the slices' own grid: back to the resampled canvas (outside the crop: background),
    then bilinear to the slice grid."""
    rh, rw = canvas_shape
    oy, ox = (rh - size) // 2, (rw - size) // 2
    canvas = torch.zeros((probs.shape[0], 4, rh, rw), dtype=torch.float32, device=probs.device)
    canvas[:, 0] = 1.0
    sy0, sx0, dy0, dx0 = max(oy, 0), max(ox, 0), max(-oy, 0), max(-ox, 0)
    ny, nx = min(rh - sy0, size - dy0), min(rw - sx0, size - dx0)
    canvas[:, :3, sy0 : sy0 + ny, sx0 : sx0 + nx] = probs[:, :, dy0 : dy0 + ny, dx0 : dx0 + nx]
    canvas[:, 3, sy0 : sy0 + ny, sx0 : sx0 + nx] = vote[:, dy0 : dy0 + ny, dx0 : dx0 + nx]
    full = F.interpolate(canvas, size=slice_shape, mode="bilinear", align_corners=False)
    labels = class_argmax(full[:, :3]).cpu().numpy()
    lesion_prob = (full[:, 2].clamp_(0, 1).mul_(255)).round_().to(torch.uint8).cpu().numpy()
    votes = full[:, 3].round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()
    return labels, lesion_prob, votes


class SliceRun(TypedDict):
    """The keyword arguments of both segmentation paths (:func:`segment_volume` and
    :func:`segment_volume_organ`)."""

    net: torch.nn.Module
    device: torch.device
    volume_hu: NDArray[Any]
    spacing_mm: tuple[float, float, float]
    preprocessing: dict[str, Any]
    tta: list[str]
    batch: NotRequired[int]
    progress: NotRequired[Callable[[int], None] | None]


def _unpack(run: SliceRun) -> tuple[
    torch.nn.Module, torch.device, NDArray[Any], tuple[float, float, float], dict[str, Any], list[str], int,
    Callable[[int], None] | None,
]:
    return (run["net"], run["device"], run["volume_hu"], run["spacing_mm"], run["preprocessing"], run["tta"],
            run.get("batch", 8), run.get("progress"))


def _grid(
    volume_hu: NDArray[Any], spacing_mm: tuple[float, float, float], preprocessing: dict[str, Any]
) -> tuple[int, int, int, int, int, tuple[int, int]]:
    """The input checked; (nz, h, w), the network's field size, the context slices each side and
    the resampled slice shape."""
    _validate(volume_hu, spacing_mm)
    nz, h, w = volume_hu.shape
    canvas_shape = ct_inplane_shape(
        shape_yx=(h, w), spacing_yx=(spacing_mm[1], spacing_mm[2]), target=float(preprocessing["spacing_mm"])
    )
    return nz, h, w, int(preprocessing["size"]), int(preprocessing.get("context_slices", 1)), canvas_shape


def _outputs(shape: tuple[int, ...]) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Labels, lesion probability and TTA lesion votes for the whole volume, all background."""
    return np.zeros(shape, dtype=np.uint8), np.zeros(shape, dtype=np.uint8), np.zeros(shape, dtype=np.uint8)


def segment_volume(**run: Unpack[SliceRun]) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Every slice, every TTA pass: the reference that :func:`segment_volume_organ` is checked against.

    Raw labels, lesion probability (uint8, 255 = 1.0) and TTA lesion votes, all (z, y, x) uint8.
    """
    net, device, volume_hu, spacing_mm, preprocessing, tta, batch, progress = _unpack(run)
    nz, h, w, size, context, canvas_shape = _grid(volume_hu, spacing_mm, preprocessing)
    labels, lesion_prob, votes = _outputs(volume_hu.shape)
    net.eval()
    for z0 in range(0, nz, batch):
        z1 = min(z0 + batch, nz)
        lo_z, hi_z = max(z0 - context, 0), min(z1 + context, nz)
        low = _lowres_slices(volume_hu, spacing_mm, preprocessing, lo_z, hi_z)
        x = _stack(low, torch.arange(z0, z1), context=context, nz=nz, base=lo_z).to(device)
        probs_sum = torch.zeros((z1 - z0, 3, size, size), dtype=torch.float32, device=device)
        vote = torch.zeros((z1 - z0, size, size), dtype=torch.float32, device=device)
        with torch.inference_mode():
            for name in tta:
                p = tta_probs(net, x, name)
                probs_sum += p
                vote += (class_argmax(p) == 2).float()
            probs = probs_sum / len(tta)
            labels[z0:z1], lesion_prob[z0:z1], votes[z0:z1] = _to_slice_grid(
                probs, vote, canvas_shape=canvas_shape, slice_shape=(h, w), size=size
            )
        if progress is not None:
            progress(z1 - z0)
    return labels, lesion_prob, votes


# The survey pass looks at one slice in every SURVEY_MM of z; a slice shows the organ when at
# least SURVEY_MIN_PX of its network-grid pixels (1.6 mm: about 1 cm^2) are labelled organ.
SURVEY_MM = 10.0
SURVEY_MIN_PX = 40
# The survey looks first at every SURVEY_COARSE-th of its slices, then at the others only next to
# the first and the last of those that show the organ (see ``_survey``).
SURVEY_COARSE = 4
# A slice gets the card's other TTA passes unless its identity pass is sure it holds only
# background: every pixel's background probability at least TTA_BACKGROUND_SURE. Flips change a
# rim of organ boundary pixels, so a slice that shows any organ gets them all (skipping them on
# organ slices without a possible lesion cost about 1 % of the organ's Dice).
TTA_BACKGROUND_SURE = 0.95
# Mixed precision: a slice whose bfloat16 identity pass gives the lesion more than LESION_RECHECK
# anywhere is run again in float32. Float32 labels lesion where the TTA-mean lesion probability
# wins the argmax (>= 1/3) and votes where one pass's does; LESION_RECHECK is far below what the
# bfloat16 pass gives on every slice where float32 labels or votes lesion (see the commit body).
LESION_RECHECK = 0.05


def _survey(
    *, nz: int, step: int, run: Callable[[list[int]], None], shows: Callable[[int], bool]
) -> tuple[int, int] | None:
    """The first and the last survey slice (every ``step``-th, and the last) that show the organ,
    None when none does: those of the whole survey when the slices that show it are contiguous in
    z. ``run`` runs the identity pass on slices, ``shows`` reads its result. Coarse to fine: every
    ``SURVEY_COARSE``-th survey slice first; then the survey slices between the first showing
    coarse slice and the coarse slice before it, and likewise after the last; every survey slice
    when no coarse slice shows the organ."""
    survey = list(range(0, nz, step))
    if survey[-1] != nz - 1:
        survey.append(nz - 1)
    coarse = survey[::SURVEY_COARSE]
    if coarse[-1] != survey[-1]:
        coarse.append(survey[-1])
    done = set(coarse)
    run(coarse)
    found = [z for z in coarse if shows(z)]
    if not found:
        rest = [z for z in survey if z not in done]
        run(rest)
        found = [z for z in survey if shows(z)]
        return (found[0], found[-1]) if found else None
    i0, i1 = survey.index(found[0]), survey.index(found[-1])
    below = [z for z in survey[max(i0 - SURVEY_COARSE, 0) : i0] if z not in done]
    above = [z for z in survey[i1 + 1 : i1 + 1 + SURVEY_COARSE] if z not in done]
    run(below + above)
    first = next((z for z in below if shows(z)), found[0])
    last = next((z for z in reversed(above) if shows(z)), found[-1])
    return first, last


def segment_volume_organ(
    *, tta_everywhere: bool = False, precision: Precision | None = None, **run: Unpack[SliceRun]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """:func:`segment_volume`'s outputs from fewer forward passes (coarse to fine in z).

    1. Survey: the identity pass on one slice in every ``SURVEY_MM`` mm (coarse to fine,
    :func:`_survey`). 2. The organ's z range:
    from one survey step before the first slice showing the organ to one step after the last;
    slices outside it are background (the reference labels little there, and what it labels is
    not connected to the organ, so ``labels_clean`` drops it). 3. Every slice in the range: the
    identity pass (the survey's result is reused), and the card's other TTA passes only where the
    identity pass is not sure of background (``TTA_BACKGROUND_SURE``), unless ``tta_everywhere``; votes on
    a slice without them count the identity pass once per transform. Each processed slice sees
    exactly the reference's input (the whole crop: the network's instance norms make a smaller
    in-plane box change every pixel's result). ``precision`` (None: as ``CDSS_INFERENCE_BF16``
    says, :func:`~inference.runtime.predictor.precision_configured`): "float32"; "bfloat16", the
    convolutions in bfloat16; "mixed", bfloat16, except that every slice on which the bfloat16
    identity pass gives the lesion a probability above ``LESION_RECHECK`` anywhere is run again in
    float32 (its identity pass, the choice of its TTA passes and those passes), so that its
    probabilities and votes are the float32 path's: lesion labels are float32 labels wherever a
    lesion is possible.
    The labels agree with the reference's (Dice >= 0.995, checked by
    ``tests/inference/runtime/test_liver_speed.py``).
    """
    net, device, volume_hu, spacing_mm, preprocessing, tta, batch, progress = _unpack(run)
    nz, h, w, size, context, canvas_shape = _grid(volume_hu, spacing_mm, preprocessing)
    # The network's input for the whole volume, filled a chunk at a time (the windowed full-size
    # float copy of a chunk is the large temporary): nz x S x S float32, 0.23 MB per slice at 240.
    low = torch.empty((nz, size, size), dtype=torch.float32)
    for z0 in range(0, nz, 32):
        low[z0 : z0 + 32] = _lowres_slices(volume_hu, spacing_mm, preprocessing, z0, min(z0 + 32, nz))
    step = max(1, int(SURVEY_MM / float(spacing_mm[0])))
    identity: dict[int, torch.Tensor] = {}

    def identity_pass(zs: list[int]) -> None:
        for i in range(0, len(zs), batch):
            chunk = torch.tensor(zs[i : i + batch])
            p = tta_probs(net, _stack(low, chunk, context=context, nz=nz, base=0).to(device), "identity")
            for k, z in enumerate(chunk.tolist()):
                identity[z] = p[k]

    if precision is None:
        precision = precision_configured(device)
    mixed = precision == "mixed"

    def passes(x: torch.Tensor, name: str, exact: torch.Tensor) -> torch.Tensor:
        """``tta_probs`` on ``x``, in float32 on the slices ``exact`` marks (mixed precision)."""
        if not mixed or not bool(exact.any()):
            return tta_probs(net, x, name)
        if bool(exact.all()):
            with torch.autocast(device.type, enabled=False):
                return tta_probs(net, x, name)
        out = torch.empty((x.shape[0], 3, *x.shape[2:]), dtype=torch.float32, device=x.device)
        out[~exact] = tta_probs(net, x[~exact], name)
        with torch.autocast(device.type, enabled=False):
            out[exact] = tta_probs(net, x[exact], name)
        return out

    net.eval()
    with torch.inference_mode(), bf16_autocast(device, enabled=precision != "float32"):
        span = _survey(
            nz=nz,
            step=step,
            run=identity_pass,
            shows=lambda z: int((class_argmax(identity[z][None]) > 0).sum()) >= SURVEY_MIN_PX,
        )
        labels, lesion_prob, votes = _outputs(volume_hu.shape)
        if span is None:
            if progress is not None:
                progress(nz)
            return labels, lesion_prob, votes
        first, last = max(span[0] - step, 0), min(span[1] + step, nz - 1)
        if progress is not None:
            progress(nz - (last - first + 1))
        others = [name for name in tta if name != "identity"]
        for z0 in range(first, last + 1, batch):
            z1 = min(z0 + batch, last + 1)
            todo = [z for z in range(z0, z1) if z not in identity]
            if todo:
                zs = torch.tensor(todo)
                p = tta_probs(net, _stack(low, zs, context=context, nz=nz, base=0).to(device), "identity")
                for k, z in enumerate(todo):
                    identity[z] = p[k]
            probs = torch.stack([identity.pop(z) for z in range(z0, z1)])
            for z in [z for z in identity if z < z1]:  # survey results already used
                del identity[z]
            exact = torch.zeros(z1 - z0, dtype=torch.bool)
            if mixed:
                exact = probs[:, 2].amax(dim=(1, 2)) > LESION_RECHECK
                if bool(exact.any()):
                    x = _stack(low, torch.nonzero(exact).flatten() + z0, context=context, nz=nz, base=0)
                    with torch.autocast(device.type, enabled=False):
                        probs[exact] = tta_probs(net, x.to(device), "identity")
            lesion_vote = (class_argmax(probs) == 2).float()
            uncertain = (
                torch.arange(z1 - z0)
                if tta_everywhere
                else torch.nonzero(probs[:, 0].amin(dim=(1, 2)) < TTA_BACKGROUND_SURE).flatten()
            )
            if others and "identity" in tta:
                vote = lesion_vote.clone()
                rest = torch.ones(z1 - z0, dtype=torch.bool)
                rest[uncertain] = False
                vote[rest] *= len(tta)  # no flips run here: the identity pass stands for each
                if uncertain.numel():
                    x = _stack(low, uncertain + z0, context=context, nz=nz, base=0).to(device)
                    sub = probs[uncertain]
                    for name in others:
                        q = passes(x, name, exact[uncertain])
                        sub += q
                        vote[uncertain] += (class_argmax(q) == 2).float()
                    probs[uncertain] = sub / len(tta)
            else:  # a card whose TTA leaves out the identity: the reference's passes, all of them
                x = _stack(low, torch.arange(z0, z1), context=context, nz=nz, base=0).to(device)
                probs = torch.zeros_like(probs)
                vote = torch.zeros_like(lesion_vote)
                for name in tta:
                    q = passes(x, name, exact)
                    probs += q
                    vote += (class_argmax(q) == 2).float()
                probs /= len(tta)
            labels[z0:z1], lesion_prob[z0:z1], votes[z0:z1] = _to_slice_grid(
                probs, vote, canvas_shape=canvas_shape, slice_shape=(h, w), size=size
            )
            if progress is not None:
                progress(z1 - z0)
    return labels, lesion_prob, votes


def liver_segment_with_model(
    *,
    model: LoadedModel,
    volume_hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    tta: bool = True,
    progress: Callable[[int], None] | None = None,
    dense: bool = False,
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    """Labels and findings; ``dense``: every slice through every TTA pass (:func:`segment_volume`,
    the reference), else :func:`segment_volume_organ`."""
    card = model.card
    post = card.data["postprocessing"]
    transforms = list(post.get("tta", ["identity"])) if tta else ["identity"]
    precision = "float32" if dense else precision_configured(model.device)
    fast: dict[str, Any] = {} if dense else {"precision": precision}
    net = model.network(precision=precision)
    raw, lesion_prob, votes = (segment_volume if dense else segment_volume_organ)(
        **fast,
        net=net,
        device=model.device,
        volume_hu=volume_hu,
        spacing_mm=spacing_mm,
        preprocessing=card.data["preprocessing"],
        tta=transforms,
        batch=int(post.get("batch", 8)),
        progress=progress,
    )
    rule = post.get("lesion_rule")
    inputs = LesionInputs(
        labels=labels_clean(raw, spacing=spacing_mm, settings=post),
        volume_hu=volume_hu,
        spacing=spacing_mm,
        lesion_prob_u8=lesion_prob,
        lesion_votes=votes,
        n_tta=len(transforms),
    )
    candidates = lesion_candidates(**inputs)
    labels = inputs["labels"] = lesions_decide(labels=inputs["labels"], candidates=candidates, rule=rule)
    findings = findings_compute(**inputs, candidates=candidates)
    findings["model"] = model.provenance()
    findings["input"] = {"shape_zyx": list(volume_hu.shape), "spacing_mm": [float(s) for s in spacing_mm]}
    findings["uncertainty"] = {
        "method": "test-time augmentation",
        "transforms": transforms,
        "confidence": (
            "mean TTA-averaged lesion probability over the lesion's voxels"
            if rule is None
            else "lesion-level confidence: the card's lesion_rule, a logistic function of the candidate's "
            f"{', '.join(RULE_FEATURES)}, calibrated on the development cases; candidates below "
            f"{rule['min_confidence']} (or failing a plausibility guard) are not proposed"
        ),
        "mean_probability": "mean TTA-averaged lesion probability over the lesion's voxels",
        "tta_agreement": "fraction of the lesion's voxels labelled lesion by every TTA pass",
        "key_slice": "slice index of the lesion's largest cross-section (the slice_index_convention's order)",
    }
    if not dense:
        findings["uncertainty"]["passes"] = (
            "slices beyond the organ's z range (found by the identity pass on one slice every "
            f"{SURVEY_MM:g} mm) are background; in the range the transforms run on every slice the identity "
            f"pass does not call background everywhere with probability >= {TTA_BACKGROUND_SURE}"
        )
    findings["uncertainty"]["precision"] = {
        "float32": "float32 throughout",
        "bfloat16": "convolutions in bfloat16 (float32 accumulation, norms and softmax)",
        "mixed": (
            "convolutions in bfloat16, except on every slice where the bfloat16 identity pass gives the "
            f"lesion a probability above {LESION_RECHECK} anywhere: those slices' passes run in float32"
        ),
    }[precision]
    findings["uncertainty"]["runtime"] = runtime_of(net)
    return labels, findings


def run_liver_seg(
    volume_hu: NDArray[Any],
    spacing_mm: tuple[float, float, float],
    *,
    model_key: str = "liver_ct_seg",
    version: str | None = None,
    tta: bool = True,
    progress: Callable[[int], None] | None = None,
    dense: bool = False,
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    """Segment liver (1) and liver lesions (2) in a CT volume (z, y, x) in HU with spacing (dz, dy, dx) mm.

    The volume must be in the internal orientation (x towards patient left, y posterior, z
    superior: the array order of an axial DICOM series); :mod:`inference.runtime.io` reorients
    DICOM, NIfTI and NRRD inputs. Returns uint8 labels of the same shape and the findings dict.
    """
    model = model_load(key=model_key, version=version)
    if model.card.task != "segmentation":
        raise ModelInputInvalid("model is not a segmentation model", detail={"key": model_key})
    return liver_segment_with_model(
        model=model, volume_hu=volume_hu, spacing_mm=spacing_mm, tta=tta, progress=progress, dense=dense
    )
