"""Tuning the ``lung_nodule_ct`` detector's parameters, leave one slab out, and writing its card.

``python manage.py train_model lung_nodule_ct --data ../shared/data/ct-lung-nodule-lidc``

The data set (LIDC-IDRI slabs; see its SOURCE.md) holds per patient ``DICOM/`` and
``nodule_reader_count.nii.gz`` (readers covering each voxel, in the DICOM series' own grid). The
reference is the >= 2-of-4-reader consensus. Candidate generation depends on ``nodule_hu`` only, so
candidates are computed once per threshold and the decision parameters are searched over a grid.
Objective per slab: consensus Dice of the accepted nodules - ``FP_COST`` x false positives (an
accepted nodule touching no reader's outline). Leave one slab out: tune on one slab, report the
other; the registered parameters are tuned on both.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from inference.registry import ARTEFACT_ROOT, model_card_write, sha256_file
from inference.runtime import lung_nodule as detector
from inference.runtime.io import Volume, dicom_series_read

VERSION = "1.0.0"
FP_COST = 0.1
GRID: dict[str, list[Any]] = {
    "nodule_hu": [-700.0, -650.0, -600.0],
    "min_diameter_mm": [3.0, 4.0, 5.0, 6.0],
    "max_elongation": [1.6, 1.8, 2.0, 2.5, 3.0, 3.5],
    "min_fill": [0.5, 0.6, 0.7, 0.8],
    "max_attachment": [1.0, 0.3, 0.2, 0.15],
}
ROBUSTNESS = (("noise_sd_hu", 20.0), ("noise_sd_hu", 50.0), ("shift_hu", -30.0), ("shift_hu", 30.0))


@dataclass
class Slab:
    name: str
    volume: Volume
    hu: NDArray[np.float32]
    spacing: tuple[float, float, float]
    readers: NDArray[np.uint8]  # internal order, readers covering each voxel
    lung: NDArray[np.bool_]


def slab_load(folder: Path) -> Slab:
    volume = dicom_series_read(folder / "DICOM")
    hu, spacing = volume.internal()
    img = nib.load(str(folder / "nodule_reader_count.nii.gz"))
    counts = np.asarray(img.dataobj, dtype=np.float32)  # type: ignore[attr-defined]
    readers = Volume(data_ijk=counts, affine_ras=volume.affine_ras, kind="nifti").internal()[0].astype(np.uint8)
    lung = detector.lung_mask(hu, spacing, detector.DEFAULT_PARAMS)
    return Slab(folder.name, volume, hu.astype(np.float32), spacing, readers, lung)


def evaluate(
    slab: Slab, candidates: list[detector.Candidate], params: dict[str, Any], hu: NDArray[Any] | None = None
) -> dict[str, Any]:
    """Dice against the >= 2-reader consensus, detection and false positives of one parameter set."""
    chosen = detector.candidates_select(candidates, params)
    readers = slab.readers.reshape(-1)
    consensus = int((readers >= 2).sum())
    union = np.unique(np.concatenate([c.index for _, c in chosen])) if chosen else np.zeros(0, dtype=np.int64)
    fp = sum(int(not (readers[c.index] >= 1).any()) for _, c in chosen)
    hit = int((readers[union] >= 2).sum())
    dice = 2.0 * hit / max(float(union.size + consensus), 1.0)
    detected = hit > 0
    return {"dice": round(dice, 4), "detected": detected, "false_positives": fp, "proposed": len(chosen),
            "objective": dice - FP_COST * fp}


def _grid() -> list[dict[str, Any]]:
    keys = list(GRID)
    return [dict(detector.DEFAULT_PARAMS, **dict(zip(keys, values, strict=True))) for values in itertools.product(*GRID.values())]


def _candidates(slab: Slab, params: dict[str, Any], hu: NDArray[Any] | None = None) -> list[detector.Candidate]:
    image = slab.hu if hu is None else hu
    lung = slab.lung if hu is None else detector.lung_mask(image, slab.spacing, params)
    return detector.candidates_find(image, slab.spacing, params, lung=lung)[0]


def tune(slabs: list[Slab], cache: dict[tuple[str, float], list[detector.Candidate]]) -> tuple[dict[str, Any], float]:
    """The grid point with the best summed objective over ``slabs`` (ties: the earlier point)."""
    best: tuple[float, dict[str, Any]] | None = None
    for params in _grid():
        score = sum(evaluate(s, cache[(s.name, params["nodule_hu"])], params)["objective"] for s in slabs)
        if best is None or score > best[0] + 1e-9:
            best = (score, params)
    assert best is not None
    return best[1], best[0]


def _perturbed(slab: Slab, kind: str, level: float, seed: int) -> NDArray[np.float32]:
    if kind == "noise_sd_hu":
        rng = np.random.default_rng(seed)
        return (slab.hu + rng.normal(0.0, level, slab.hu.shape)).astype(np.float32)
    return (slab.hu + level).astype(np.float32)


def _tuned(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in GRID}


def train(*, data: Path, seed: int, out_root: Path | None, command: str) -> dict[str, Any]:
    started = time.monotonic()
    folders = sorted(p for p in data.iterdir() if (p / "nodule_reader_count.nii.gz").is_file())
    slabs = [slab_load(f) for f in folders]
    cache = {(s.name, t): _candidates(s, dict(detector.DEFAULT_PARAMS, nodule_hu=t)) for s in slabs for t in GRID["nodule_hu"]}
    folds = []
    for held in slabs:
        train_slabs = [s for s in slabs if s is not held]
        params, _ = tune(train_slabs, cache)
        result = evaluate(held, cache[(held.name, params["nodule_hu"])], params)
        robustness = []
        for kind, level in ROBUSTNESS:
            cands = _candidates(held, params, _perturbed(held, kind, level, seed))
            r = evaluate(held, cands, params)
            robustness.append({"perturbation": kind, "level": level, **{k: r[k] for k in ("dice", "detected", "false_positives")}})
        consensus_ml = float((held.readers >= 2).sum() * np.prod(held.spacing)) / 1000.0
        folds.append({"held_out": held.name, "tuned_on": [s.name for s in train_slabs], "params": _tuned(params),
                      **{k: result[k] for k in ("dice", "detected", "false_positives", "proposed")},
                      "consensus_ml": round(consensus_ml, 2), "robustness": robustness})
    final, _ = tune(slabs, cache)
    on_dev = [{"slab": s.name, **{k: v for k, v in evaluate(s, cache[(s.name, final["nodule_hu"])], final).items() if k != "objective"}} for s in slabs]
    timing_slab = slabs[-1]
    t0 = time.monotonic()
    detector.nodules_detect(timing_slab.hu, timing_slab.spacing, final)
    seconds = time.monotonic() - t0
    directory = (out_root or ARTEFACT_ROOT) / detector.MODEL_KEY / VERSION
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / "params.json"
    weights.write_text(json.dumps({"params": final, "tuned": _tuned(final)}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = _card(final, folds, on_dev, weights, command, seconds, timing_slab, time.monotonic() - started)
    model_card_write(directory=directory, data=card, markdown=_markdown(card))
    return {"card": card, "folds": folds}


def _card(params: dict[str, Any], folds: list[dict[str, Any]], on_dev: list[dict[str, Any]], weights: Path, command: str,
          seconds: float, timing_slab: Slab, wall: float) -> dict[str, Any]:
    return {
        "key": detector.MODEL_KEY,
        "version": VERSION,
        "name": "Lung nodule detection and measurement on chest CT (classical, hand-tuned)",
        "task": "detection",
        "modality": ["CT"],
        "classes": ["background", "nodule"],
        "intended_use": "Research and decision support only: proposes solid, part-solid and ground-glass lung nodules of "
        f"{params['min_diameter_mm']:g}-{params['max_diameter_mm']:g} mm equivalent diameter (the tuned limits: smaller ones are "
        "not proposed, the click-to-measure tool measures them) on chest CT in adults, with long/short axis, mean diameter, volume, type, mean HU, calcification and a "
        "confidence, for review by a radiologist and as inputs to Lung-RADS, Brock and Fleischner once accepted. "
        "Not a diagnosis; detection is NOT validated (two development slabs).",
        "population": {
            "description": "adults (35 years or older, the screening and incidental-nodule guideline population) with a chest CT, "
            "as in the LIDC-IDRI development slabs",
            "criteria": [
                {"field": "age_years", "min": 35, "max": 120, "unit": "years", "label": "age at the study",
                 "expects": "an adult of 35 years or older", "code": "age_outside_population"},
                {"field": "modality", "in": ["CT"], "label": "modality", "code": "modality_outside_population"},
                {"field": "body_part", "in": ["CHEST", "LUNG", "THORAX", "CHESTABDOMEN", "CHESTABDOMENPELVIS", "WHOLEBODY",
                                             "TRUNK", "THORAXABDOMEN", "THORAXABDOMENPELVIS", "PARTIALBODY", "BODY"],
                 "label": "body part examined", "expects": "a chest CT (or a scan that includes the chest)",
                 "code": "body_part_outside_population", "unknown": "allow"},
            ],
        },
        "limitations": [
            "Tuned on TWO slabs of 11 and 12 slices (LIDC-IDRI-0002, -0003) with one nodule each; leave-one-slab-out is the only "
            "evaluation, so the figures are anecdotes, not estimates of performance on other scans.",
            "Classical detector, no learned model: with two annotated slabs a handful of hand-set rules (HU threshold in a lung "
            "mask, multi-scale morphological opening against vessels, size 3-30 mm, elongation, ellipsoid fill, dense shell) "
            "tuned leave one slab out is what the data support; a network was not trained or compared.",
            "Leave one slab out the two slabs disagree: parameters tuned on the solid nodule of LIDC-IDRI-0003 miss the "
            "ground-glass nodule of LIDC-IDRI-0002, and parameters tuned on 0002 find 0003's nodule with many false positives "
            "(metrics.leave_one_slab_out). The registered parameters, tuned on both, find both nodules with one false positive "
            "per slab IN SAMPLE only. The issue's targets (held-out Dice >= 0.70, at most one false positive per slab) are NOT "
            "shown by these folds.",
            "Vessels seen in cross-section look like nodules on a thin slab; expect false positives, above all near the hila, "
            "and misses of nodules fused with vessels or the pleura over a wide contact.",
            "Confidence is a soft version of the decision rule, NOT a calibrated probability.",
            "Upper lobe is an approximation (upper 45 % of the lungs' craniocaudal extent), reported only when the scan shows the "
            "lungs end to end; 'unknown' on slabs. Type (solid / part-solid / ground-glass) comes from the fraction of voxels "
            "above -300 HU and was checked only against the two slabs' texture ratings.",
        ],
        "architecture": {"name": "classical: lung mask, HU threshold, multi-scale opening, connected components, shape rules",
                         "kwargs": {}},
        "weights": {"file": weights.name, "sha256": sha256_file(weights), "bytes": weights.stat().st_size,
                    "format": "JSON parameters (inference.runtime.lung_nodule)"},
        "preprocessing": {"orientation": "axial, x to patient left, y posterior, z superior (DICOM array order)",
                          "units": "Hounsfield units from RescaleSlope/Intercept"},
        "postprocessing": {"params": params, "labels": "0 background, 1..n one integer per nodule by decreasing confidence",
                           "outputs": ["labels.nii.gz", "nodules.csv", "findings.json", "seg.dcm (DICOM input)"]},
        "serving": {"queue": "gpu"},
        "training": {
            "data": [{
                "name": "LIDC-IDRI (The Cancer Imaging Archive) slabs of LIDC-IDRI-0002 and LIDC-IDRI-0003, with the four readers' outlines",
                "licence": "CC BY 3.0",
                "citation": "Armato SG III et al. Data From LIDC-IDRI. The Cancer Imaging Archive, 2015. "
                "https://doi.org/10.7937/K9/TCIA.2015.LO9QL9SX; Armato SG III et al. Med Phys 2011;38(2):915-931; "
                "Clark K et al. J Digit Imaging 2013;26(6):1045-1057.",
                "licence_implications": "Attribution required (above); no image or label is stored in this repository, only the "
                "tuned parameters. TCIA Data Usage Policy: do not attempt to re-identify participants.",
                "patients": [f.get("held_out") for f in folds],
            }],
            "reference": ">= 2 of 4 readers' outlines (nodule_reader_count >= 2)",
            "grid": GRID,
            "objective": f"Dice vs consensus - {FP_COST} x false positives (a proposal touching no reader's outline)",
            "command": command,
            "wall_seconds": round(wall, 1),
            "created": dt.date.today().isoformat(),
        },
        "metrics": {
            "command": command,
            "leave_one_slab_out": folds,
            "final_params_on_development_slabs": on_dev,
            "cpu_seconds_per_slab": {"slab": timing_slab.name, "slices": int(timing_slab.hu.shape[0]), "seconds": round(seconds, 1)},
        },
        "created": dt.date.today().isoformat(),
    }


def _markdown(card: dict[str, Any]) -> str:
    folds = card["metrics"]["leave_one_slab_out"]
    rows = "\n".join(
        f"| {f['held_out']} | {', '.join(f['tuned_on'])} | {f['dice']:.3f} | {'yes' if f['detected'] else 'no'} | "
        f"{f['false_positives']} | {f['proposed']} | {json.dumps(f['params'])} |"
        for f in folds
    )
    robust = "\n".join(
        f"| {f['held_out']} | {r['perturbation']} {r['level']:+g} | {r['dice']:.3f} | {'yes' if r['detected'] else 'no'} | {r['false_positives']} |"
        for f in folds for r in f["robustness"]
    )
    dev = "\n".join(f"| {d['slab']} | {d['dice']:.3f} | {d['false_positives']} | {d['proposed']} |"
                    for d in card["metrics"]["final_params_on_development_slabs"])
    data = card["training"]["data"][0]
    timing = card["metrics"]["cpu_seconds_per_slab"]
    return f"""# Model card: {card['name']} (`{card['key']}` {card['version']})

## Intended use
{card['intended_use']}

Every result names the model and version and *supports, not replaces, clinical judgement*.

## Limits
{chr(10).join('- ' + x for x in card['limitations'])}

## Method
Classical image analysis (numpy/scipy, no network): air below {card['postprocessing']['params']['lung_hu']:g} HU not connected to
the image border is lung; each slice's lung mask is closed ({card['postprocessing']['params']['closing_mm']:g} mm) and hole-filled.
Voxels above `nodule_hu` inside the lung are opened by balls of {card['postprocessing']['params']['open_mm']} mm (cuts vessels
thinner than the ball and their attachments), each component is grown back into the dense voxels and kept when its equivalent
diameter lies in [`min_diameter_mm`, {card['postprocessing']['params']['max_diameter_mm']:g}] mm, its elongation (ratio of principal
axes) is at most `max_elongation`, it fills at least `min_fill` of its ellipsoid and at most `max_attachment` of a 3 mm shell
around it is dense (vessels continue beyond the piece the opening kept; a nodule is mostly surrounded by lung). Candidates found
at several opening radii are merged (the more confident one of an overlapping pair is kept). Long and short axis are measured on the axial
slice of largest cross-section (Fleischner / Lung-RADS convention). The parameters are the JSON file `{card['weights']['file']}`
(SHA-256 `{card['weights']['sha256']}`), hash-checked before use. CPU time: {timing['seconds']} s for {timing['slices']} slices
of 512 x 512 ({timing['slab']}).

## Data and licence
- {data['name']}; licence **{data['licence']}**. {data['citation']}
- {data['licence_implications']}

## Leave-one-slab-out results
Reference: {card['training']['reference']}. Objective: {card['training']['objective']}.

| held-out slab | tuned on | Dice | nodule found | false positives | proposed | tuned parameters |
|---|---|---|---|---|---|---|
{rows}

### Robustness (held-out slab, fold's parameters)
| held-out slab | perturbation | Dice | nodule found | false positives |
|---|---|---|---|---|
{robust}

### Registered parameters (tuned on both slabs), on the development slabs (not held out)
| slab | Dice | false positives | proposed |
|---|---|---|---|
{dev}

Registered: `{json.dumps({k: card['postprocessing']['params'][k] for k in GRID})}`.
Reproduce: `{card['training']['command']}`.
"""
