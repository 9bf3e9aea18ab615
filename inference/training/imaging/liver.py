"""Training and leave-one-patient-out evaluation of ``liver_ct_seg`` (liver and liver lesions, CT).

Data: a folder of 3D-IRCADb-style patients, each ``<patient>/PATIENT_DICOM/`` (the CT series) and
``<patient>/labels_liver1_tumour2.nii.gz`` (0 background, 1 liver, 2 liver tumour); optionally an
extra CT with liver-only labels (``--extra-liver``: the TotalSegmentator example, a DICOM folder and
an organ label map whose liver index is read from its labels CSV). 3D-IRCADb-01 is CC BY-NC-ND 4.0:
nothing of the data is written to the repository, only weights (see the card).

Two ways to the same artefact:

- CPU: ``manage.py train_model liver_ct_seg --data PATH`` (stages cv / final / card) trains with a
  small budget (batch 8, 400 iterations by default) and evaluates with the runtime pipeline.
- GPU (how 1.1.0 was made): ``scripts/gpu/liver_ct_seg.py`` exports the cases on the model grid
  (:func:`gpu_cases_export`), trains the folds and the final model on the GPU machine with the same
  core (:mod:`inference.training.imaging.liver_fit`), and :func:`gpu_results_import` evaluates the
  returned fold weights here with the full runtime pipeline and writes the card.

The recipe itself lives in :mod:`inference.training.imaging.liver_fit`.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
from numpy.typing import NDArray
from scipy import ndimage

from inference.registry import ARTEFACT_ROOT, ModelInputInvalid, model_card_write, sha256_file
from inference.runtime.io import dicom_files, dicom_series_from_datasets, dicom_series_read, nifti_read
from inference.runtime.liver import run_liver_seg, segment_volume
from inference.runtime.networks import liver_architecture
from inference.runtime.postprocessing import dice, labels_clean
from inference.training.imaging import common
from inference.training.imaging.liver_fit import (
    CPU_DEFAULTS,
    POSTPROCESSING,
    PREPROCESSING,
    PREREGISTERED_POSTPROCESSING,
    TRAIN,
    Case,
    case_canvas,
    case_save,
    model_fit,
    network_new,
)

KEY = "liver_ct_seg"
VERSION = "1.1.0"
WORK_DIR = Path("var/train")
ROBUSTNESS = [("noise_sd_hu", 20.0), ("noise_sd_hu", 50.0), ("shift_hu", -30.0), ("shift_hu", 30.0)]
IRCAD = {
    "name": "3D-IRCADb-01 (IRCAD, Strasbourg)",
    "licence": "CC BY-NC-ND 4.0",
    "citation": "Soler L et al. 3D image reconstruction for comparison of algorithm database. IRCAD Tech. Rep., 2010.",
    "licence_implications": (
        "No image or label of the data set is stored in this repository. The weights are derived from "
        "the data; whether weights are 'adapted material' under CC BY-NC-ND is legally unsettled, so they "
        "are distributed with the data's restrictions: attribution to IRCAD, non-commercial use only, and "
        "not to be offered as a licensed derivative of the data. Retrain on suitably licensed data "
        "(e.g. LiTS under its terms, or local data) before any commercial or clinical deployment."
    ),
}
EXTRA = {
    "name": "TotalSegmentator example CT (wasserth/TotalSegmentator tests/reference_files, 20 slices)",
    "licence": "Apache-2.0 (repository); image origin undocumented",
    "citation": "Wasserthal J et al. TotalSegmentator. Radiology: Artificial Intelligence 2023;5(5):e230024.",
    "labels": "liver label made by the TotalSegmentator model (silver standard), used as liver-only supervision",
}


def patients_find(data: Path) -> list[Path]:
    found = sorted(
        p
        for p in data.iterdir()
        if (p / "PATIENT_DICOM").is_dir() and (p / "labels_liver1_tumour2.nii.gz").exists()
    )
    if not found:
        raise ModelInputInvalid(
            "no <patient>/PATIENT_DICOM + labels_liver1_tumour2.nii.gz under --data",
            detail={"data": str(data)},
        )
    return found


def patient_load(folder: Path) -> dict[str, Any]:
    vol = dicom_series_read(folder / "PATIENT_DICOM")
    hu, spacing = vol.internal()
    lab_vol = nifti_read(folder / "labels_liver1_tumour2.nii.gz")
    labels, _ = lab_vol.internal()
    if labels.shape != hu.shape:
        raise ModelInputInvalid(
            "labels and CT differ in shape", detail={"ct": list(hu.shape), "labels": list(labels.shape)}
        )
    return {
        "name": folder.name,
        "hu": hu,
        "spacing": spacing,
        "labels": np.rint(labels).astype(np.uint8),
        "lesion_labels": True,
    }


def extra_liver_load(folder: Path) -> dict[str, Any]:
    """The liver-only case: one DICOM folder, one NIfTI label map and a CSV naming the liver label.

    The TotalSegmentator example is de-identified down to an empty SeriesInstanceUID; for training
    and evaluation only, a missing UID is filled with one placeholder so the series reads as one.
    """
    dicom_dirs = [p for p in sorted(folder.iterdir()) if p.is_dir() and dicom_files(p)]
    niftis = sorted(folder.glob("*.nii.gz"))
    csvs = sorted(folder.glob("*labels*.csv"))
    if len(dicom_dirs) != 1 or len(niftis) != 1 or len(csvs) != 1:
        raise ModelInputInvalid(
            "--extra-liver needs one DICOM folder, one .nii.gz label map and one *labels*.csv",
            detail={"extra": str(folder)},
        )
    with csvs[0].open() as fh:
        liver_index = [int(r["label"]) for r in csv.DictReader(fh) if r["name"].strip() == "liver"]
    if len(liver_index) != 1:
        raise ModelInputInvalid("labels CSV names no single 'liver' label", detail={"csv": csvs[0].name})
    datasets = [pydicom.dcmread(p) for p in dicom_files(dicom_dirs[0])]
    for ds in datasets:
        if not ds.get("SeriesInstanceUID"):
            ds.SeriesInstanceUID = "2.25.0"
    hu, spacing = dicom_series_from_datasets(datasets).internal()
    labels, _ = nifti_read(niftis[0]).internal()
    if labels.shape != hu.shape:
        raise ModelInputInvalid("labels and CT differ in shape", detail={"ct": list(hu.shape)})
    return {
        "name": "ts-example",
        "hu": hu,
        "spacing": spacing,
        "labels": (np.rint(labels) == liver_index[0]).astype(np.uint8),
        "lesion_labels": False,
    }


def patients_load(data: Path, extra: Path | None) -> list[dict[str, Any]]:
    out = [patient_load(p) for p in patients_find(data)]
    if extra is not None:
        out.append(extra_liver_load(extra))
    return out


def case_from_patient(p: dict[str, Any]) -> Case:
    return case_canvas(
        name=p["name"], hu=p["hu"], labels=p["labels"], spacing=p["spacing"], lesion_labels=p["lesion_labels"]
    )


def gpu_cases_export(*, data: Path, extra: Path | None, out: Path) -> dict[str, Any]:
    """Write every case on the model grid (int16 HU, uint8 labels; .npz) for the GPU machine."""
    manifest: dict[str, Any] = {"preprocessing": PREPROCESSING, "cases": []}
    for p in patients_load(data, extra):
        case = case_from_patient(p)
        path = out / f"{case.name}.npz"
        case_save(case, path)
        manifest["cases"].append(
            {
                "name": case.name,
                "file": path.name,
                "shape": list(case.hu.shape),
                "slice_mm": case.slice_mm,
                "lesion_labels": case.lesion_labels,
            }
        )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _lesion_components(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    comp, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    return comp.astype(np.int32), int(n)


def evaluate(
    *,
    net: torch.nn.Module,
    patient: dict[str, Any],
    tta: list[str],
    hu: NDArray[Any] | None = None,
    raw_cache: Path | None = None,
) -> dict[str, Any]:
    """Metrics of the full inference pipeline (runtime ``segment_volume`` + ``labels_clean``) on one
    patient at its original resolution. ``raw_cache`` keeps the raw labels (var/train, never
    committed) so that post-processing can be re-scored without another forward pass."""
    t0 = time.time()
    volume = patient["hu"] if hu is None else hu
    raw, lesion_prob, _ = segment_volume(
        net=net,
        device=next(net.parameters()).device,
        volume_hu=volume,
        spacing_mm=patient["spacing"],
        preprocessing=PREPROCESSING,
        tta=tta,
        batch=int(POSTPROCESSING["batch"]),
    )
    if raw_cache is not None:
        raw_cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(raw_cache, raw=raw, lesion_prob=lesion_prob)
    result = scores(raw=raw, patient=patient)
    result["seconds"] = round(time.time() - t0, 1)
    result["tta"] = tta
    return result


def scores(*, raw: NDArray[np.uint8], patient: dict[str, Any]) -> dict[str, Any]:
    """Metrics with the registered post-processing, and (nested) with the pre-registered one."""
    result = score(raw=raw, patient=patient, settings=POSTPROCESSING)
    result["preregistered_postprocessing"] = score(
        raw=raw, patient=patient, settings=PREREGISTERED_POSTPROCESSING
    )
    return result


def score(*, raw: NDArray[np.uint8], patient: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Liver Dice, lesion Dice, lesion detection and false lesions after ``labels_clean``."""
    pred = labels_clean(raw, spacing=patient["spacing"], settings=settings)
    gt = patient["labels"]
    voxel_ml = float(np.prod(patient["spacing"])) / 1000.0
    result: dict[str, Any] = {
        "patient": patient["name"],
        "liver_dice": round(dice(pred > 0, gt > 0), 4),
        "predicted_liver_ml": round(float((pred > 0).sum()) * voxel_ml, 1),
        "true_liver_ml": round(float((gt > 0).sum()) * voxel_ml, 1),
    }
    if patient["lesion_labels"]:
        gt_comp, n_gt = _lesion_components(gt == 2)
        pr_comp, n_pr = _lesion_components(pred == 2)
        true_ml = [round(float((gt_comp == k).sum()) * voxel_ml, 2) for k in range(1, n_gt + 1)]
        hit = [bool((pred[gt_comp == k] == 2).any()) for k in range(1, n_gt + 1)]
        false_ml = [
            round(float((pr_comp == k).sum()) * voxel_ml, 2)
            for k in range(1, n_pr + 1)
            if not (gt[pr_comp == k] == 2).any()
        ]
        result.update(
            {
                "lesion_dice": round(dice(pred == 2, gt == 2), 4) if n_gt else None,
                "lesions_true": n_gt,
                "lesions_detected": int(sum(hit)),
                "lesions_predicted": n_pr,
                "false_positive_lesions": len(false_ml),
                "true_lesion_ml": true_ml,
                "true_lesion_detected": hit,
                "false_lesion_ml": false_ml,
            }
        )
    else:
        result.update(
            {
                "lesion_dice": None,
                "lesions_true": None,
                "lesions_detected": None,
                "lesions_predicted": int(_lesion_components(pred == 2)[1]),
                "false_positive_lesions": None,
                "note": "liver-only labels (model-made): lesions not scored",
            }
        )
    return result


def robustness_run(
    *,
    net: torch.nn.Module,
    patient: dict[str, Any],
    seed: int,
    log: Callable[[str], None],
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    """The same held-out patient with Gaussian noise or a constant shift added in HU (no TTA)."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind, level in ROBUSTNESS:
        hu = patient["hu"] + (
            rng.normal(0, level, patient["hu"].shape).astype(np.float32)
            if kind == "noise_sd_hu"
            else np.float32(level)
        )
        raw_cache = None if cache is None else cache.with_name(f"{cache.stem}_{kind}_{level:g}.npz")
        r = evaluate(net=net, patient=patient, tta=["identity"], hu=hu, raw_cache=raw_cache)
        rows.append(_robust_row(kind, level, r))
        log(f"robustness {patient['name']} {json.dumps(rows[-1])}")
    return rows


def _robust_row(kind: str, level: float, r: dict[str, Any]) -> dict[str, Any]:
    keep = ("liver_dice", "lesion_dice", "lesions_detected", "false_positive_lesions")
    return {"perturbation": kind, "level": level, **{m: r[m] for m in keep}}


def folds_rescore(*, data: Path, extra: Path | None) -> list[dict[str, Any]]:
    """Re-score the folds in var/train from their cached raw labels with the current post-processing
    (no forward pass); robustness rows likewise."""
    patients = {p["name"]: p for p in patients_load(data, extra)}
    out = []
    for path in sorted(WORK_DIR.glob("liver_lopo_*.json")):
        fold = json.loads(path.read_text())
        cache = WORK_DIR / "raw" / f"{fold['job']}.npz"
        patient = patients[fold["patient"]]
        with np.load(cache) as f:
            fold.update(scores(raw=f["raw"], patient=patient))
        rows = []
        for row in fold.get("robustness", []):
            kind, level = row["perturbation"], float(row["level"])
            with np.load(cache.with_name(f"{cache.stem}_{kind}_{level:g}.npz")) as f:
                rows.append(
                    _robust_row(kind, level, score(raw=f["raw"], patient=patient, settings=POSTPROCESSING))
                )
        fold["robustness"] = rows
        path.write_text(json.dumps(fold, indent=2))
        out.append(fold)
    return out


def cpu_timing_run(*, data: Path, threads: int) -> dict[str, Any]:
    """Wall time of the whole runtime pipeline (registered model, TTA, CPU) on the largest IRCAD series."""
    torch.set_num_threads(threads)
    patient = max((patient_load(p) for p in patients_find(data)), key=lambda p: p["hu"].shape[0])
    run_liver_seg(patient["hu"][:8], patient["spacing"])  # load and warm the model outside the timing
    t0 = time.time()
    run_liver_seg(patient["hu"], patient["spacing"])
    record = {
        "slices": int(patient["hu"].shape[0]),
        "shape_yx": list(patient["hu"].shape[1:]),
        "seconds": round(time.time() - t0, 1),
        "threads": threads,
        "note": "shared development machine, measured under load; an idle machine is faster",
    }
    (WORK_DIR / "liver_cpu_timing.json").write_text(json.dumps(record, indent=2))
    return record


def _fold_write(k: int, result: dict[str, Any]) -> None:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / f"liver_lopo_{k}.json").write_text(json.dumps(result, indent=2))


def lopo_run(
    *, data: Path, extra: Path | None, seed: int, fold: int | None, iterations: int | None
) -> list[dict[str, Any]]:
    """CPU leave-one-patient-out: train on the other patients (and the liver-only case), evaluate on
    the one left out with the runtime pipeline; robustness rows on each held-out patient."""
    patients = patients_load(data, extra)
    cases = [case_from_patient(p) for p in patients]
    device = common.training_device()
    results = []
    held_out = [k for k, p in enumerate(patients) if p["lesion_labels"]]
    for k in held_out:
        if fold is not None and k != fold:
            continue
        log = common.run_logger(WORK_DIR / f"liver_lopo_{k}.log")
        train_cases = [c for j, c in enumerate(cases) if j != k]
        net, record = model_fit(
            cases=train_cases,
            seed=seed,
            device=device,
            log=log,
            iterations=iterations or CPU_DEFAULTS["iterations"],
            batch=CPU_DEFAULTS["batch"],
            desc=f"lopo {patients[k]['name']}",
        )
        result = evaluate(net=net, patient=patients[k], tta=POSTPROCESSING["tta"])
        result["trained_on"] = record["cases"]
        result["training"] = record
        result["robustness"] = robustness_run(net=net, patient=patients[k], seed=seed, log=log)
        log(f"LOPO {json.dumps(result)}")
        _fold_write(k, result)
        results.append(result)
    return results


def _final_meta_write(meta: dict[str, Any]) -> None:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "liver_final_meta.json").write_text(json.dumps(meta, indent=2))


def final_run(
    *, data: Path, extra: Path | None, seed: int, out_root: Path, command: str, iterations: int | None
) -> dict[str, Any]:
    log = common.run_logger(WORK_DIR / "liver_final.log")
    patients = patients_load(data, extra)
    net, record = model_fit(
        cases=[case_from_patient(p) for p in patients],
        seed=seed,
        device=common.training_device(),
        log=log,
        iterations=iterations or CPU_DEFAULTS["iterations"],
        batch=CPU_DEFAULTS["batch"],
        desc="final",
    )
    weights = common.state_dict_save(model=net, path=out_root / KEY / VERSION / "weights.pt")
    _final_meta_write({"weights": weights, "command": command, "training": record})
    card = card_refresh(out_root=out_root)
    log(f"wrote {out_root / KEY / VERSION}")
    return card


def gpu_results_import(
    *,
    results: Path,
    data: Path,
    extra: Path | None,
    out_root: Path,
    command: str,
    robustness: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the fold weights that came back from the GPU machine with the full runtime pipeline
    (here, on the CPU), install the final weights as this version and write the card."""
    log = log or common.run_logger(WORK_DIR / "liver_gpu_import.log")
    summary = json.loads((results / "results.json").read_text())
    patients = {p["name"]: p for p in patients_load(data, extra)}
    for path in WORK_DIR.glob("liver_lopo_*.json"):
        path.unlink()
    for k, job in enumerate(j for j in summary["jobs"] if j["role"] != "final"):
        net = network_new()
        state = torch.load(results / job["weights"], map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        net.eval()
        patient = patients[job["eval"]]
        cache = WORK_DIR / "raw" / f"{job['name']}.npz"
        result = evaluate(net=net, patient=patient, tta=POSTPROCESSING["tta"], raw_cache=cache)
        result.update(
            {
                "job": job["name"],
                "role": job["role"],
                "trained_on": job["train"],
                "training": job["record"],
                "lowres_check": job.get("lowres_eval"),
            }
        )
        log(f"{job['name']}: {json.dumps({m: result[m] for m in ('liver_dice', 'lesion_dice')})}")
        do_rob = robustness and job["role"] == "lopo" and patient["lesion_labels"]
        result["robustness"] = (
            robustness_run(net=net, patient=patient, seed=0, log=log, cache=cache) if do_rob else []
        )
        log(f"{job['name']} {json.dumps(result)}")
        _fold_write(k, result)
    final = next(j for j in summary["jobs"] if j["role"] == "final")
    target = out_root / KEY / VERSION / "weights.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((results / final["weights"]).read_bytes())
    weights = {
        "file": target.name,
        "sha256": sha256_file(target),
        "bytes": target.stat().st_size,
        "format": "torch state_dict",
    }
    _final_meta_write(
        {
            "weights": weights,
            "command": command,
            "training": final["record"],
            "gpu": summary.get("device"),
            "gpu_wall_seconds": summary.get("wall_seconds"),
        }
    )
    return card_refresh(out_root=out_root)


def card_refresh(*, out_root: Path) -> dict[str, Any]:
    """(Re)write card.json and MODEL_CARD.md from the final run's record and the fold results in var/train."""
    meta = json.loads((WORK_DIR / "liver_final_meta.json").read_text())
    folds = [json.loads(p.read_text()) for p in sorted(WORK_DIR.glob("liver_lopo_*.json"))]
    timing_path = WORK_DIR / "liver_cpu_timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else None
    card = _card(meta=meta, folds=folds, timing=timing)
    model_card_write(directory=out_root / KEY / VERSION, data=card, markdown=_markdown(card))
    return card


TUNING = (
    "The recipe, the iteration budget and the pre-registered post-processing were fixed before any fold was "
    "evaluated; nothing was trained or tuned on a held-out patient. The lesion-in-liver rule of the registered "
    "post-processing (lesion_min_liver_contact 0.5) was added AFTER the first evaluation showed the 670 mL "
    "extra-hepatic mass of 3Dircadb1.7 labelled lesion: its threshold was set a priori (half of the lesion's "
    "surface on liver) and checked only against the training side (the seven real lesions of 3Dircadb1.1 keep "
    ">= 0.78 of their surface on liver), but the decision to add a rule was prompted by a held-out result, so "
    "the registered-post-processing rows are optimistic; the pre-registered rows are the clean held-out figures."
)


def _card(
    *, meta: dict[str, Any], folds: list[dict[str, Any]], timing: dict[str, Any] | None
) -> dict[str, Any]:
    record = meta["training"]
    ircad = [n for n in record["cases"] if n != "ts-example"]
    data: list[dict[str, Any]] = [
        {**IRCAD, "name": f"{IRCAD['name']} patients {', '.join(ircad)}", "patients": ircad}
    ]
    if "ts-example" in record["cases"]:
        data.append(EXTRA)
    lopo = [f for f in folds if f.get("role", "lopo") == "lopo"]
    return {
        "key": KEY,
        "version": VERSION,
        "name": "Liver and liver-lesion CT segmentation (2D U-Net++)",
        "task": "segmentation",
        "modality": ["CT"],
        "classes": ["background", "liver", "lesion"],
        "intended_use": (
            "Research and decision support only: delineates the liver and focal liver lesions on contrast-enhanced "
            "abdominal CT in adults, with volumes, lesion diameters and a per-lesion confidence, for review and "
            "correction by a radiologist. Not a diagnosis; lesion detection is NOT validated (see metrics)."
        ),
        "limitations": [
            "Trained on TWO labelled patients (3D-IRCADb-01 1.1 and 1.7) plus one CT with model-made liver labels; "
            "leave-one-patient-out is the only evaluation and one patient holds all seven real tumours. The "
            "figures below are anecdotes, not estimates of performance on other data; the issue's targets "
            "(liver Dice >= 0.95, lesion Dice >= 0.64, no lesion on a lesion-free liver) are NOT met in the folds.",
            "Lesions were learnt mostly from synthetic lesions pasted into the training livers (an augmentation); "
            "expect misses of lesions unlike them (iso-dense, infiltrative) and false lesions, above all in "
            "structures next to the liver (stomach, heart, adrenal/renal masses) on other scanners.",
            "2D slice-wise model at 1.6 mm in-plane resolution (240 x 240 field of 384 mm); inputs with a wider "
            "field are centre-cropped, so liver outside the central 384 mm is missed.",
            "Non-commercial use only: the training data are CC BY-NC-ND 4.0 (see training.data).",
        ],
        "architecture": liver_architecture(in_channels=3, features=TRAIN["features"]),
        "weights": meta["weights"],
        "preprocessing": PREPROCESSING,
        "postprocessing": POSTPROCESSING,
        "training": {
            "data": data,
            "recipe": (
                "E-U-Net++-style (random crops, random flips, added Gaussian noise; centre crop at test; HU window; "
                "fixed in-plane spacing) plus small rotations/scalings, HU scale/shift, blur, random slice step and "
                "synthetic liver lesions; see inference/training/imaging/liver_fit.py"
            ),
            **{k: v for k, v in TRAIN.items() if k not in ("batch", "crop")},
            **record,
            "loss": "cross-entropy + batch soft Dice of organ (liver incl. lesions) and lesion; liver-only "
            "cases scored on organ vs background; exponential moving average of the weights is saved",
            "command": meta["command"],
            **(
                {"gpu": meta["gpu"], "gpu_wall_seconds": meta.get("gpu_wall_seconds")}
                if meta.get("gpu")
                else {}
            ),
        },
        "metrics": {
            "leave_one_patient_out": lopo,
            "other_held_out": [f for f in folds if f.get("role", "lopo") != "lopo"],
            "preregistered_postprocessing": PREREGISTERED_POSTPROCESSING,
            "command": meta["command"],
            "targets": "liver Dice >= 0.95, lesion Dice >= 0.64, no lesion on the lesion-free liver",
            "tuning": TUNING,
            **({"cpu_inference": timing} if timing else {}),
        },
        "created": common.today(),
    }


def _fmt(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:.4f}"


def _row(r: dict[str, Any], m: dict[str, Any]) -> str:
    lesions = "n/a" if m.get("lesions_true") is None else f"{m['lesions_detected']}/{m['lesions_true']}"
    fp = "n/a" if m.get("false_positive_lesions") is None else str(m["false_positive_lesions"])
    return (
        f"| {r['patient']} | {', '.join(r['trained_on'])} | {r.get('job', '')} | {m['liver_dice']:.4f} | "
        f"{_fmt(m['lesion_dice'], 'n/a (no lesion)' if m.get('lesions_true') == 0 else 'n/a')} | "
        f"{lesions} | {fp} |"
    )


def _details(r: dict[str, Any], m: dict[str, Any]) -> str:
    found = ", ".join(
        f"{v} mL {'found' if h else 'MISSED'}"
        for v, h in zip(m.get("true_lesion_ml") or [], m.get("true_lesion_detected") or [], strict=True)
    )
    return (
        f"- {r['patient']} ({r.get('job', '')}): true lesions {found or 'none'}; "
        f"false lesions (mL): {m.get('false_lesion_ml') or 'none'}"
    )


def _markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    folds = m["leave_one_patient_out"] + m["other_held_out"]
    head = (
        "| held-out | trained on | job | liver Dice | lesion Dice | lesions detected | false lesions |\n"
        "|---|---|---|---|---|---|---|"
    )
    registered = [_row(r, r) for r in folds]
    pre = [_row(r, r["preregistered_postprocessing"]) for r in folds if "preregistered_postprocessing" in r]
    details = [_details(r, r) for r in folds if r.get("lesions_true") is not None]
    details_pre = [
        _details(r, r["preregistered_postprocessing"])
        for r in folds
        if "preregistered_postprocessing" in r and r.get("lesions_true") is not None
    ]
    rob = [
        f"| {r['patient']} | {x['perturbation']} {x['level']} | {x['liver_dice']:.4f} | "
        f"{_fmt(x['lesion_dice'], 'n/a')} | {x['lesions_detected']} | {x['false_positive_lesions']} |"
        for r in m["leave_one_patient_out"]
        for x in r.get("robustness", [])
    ]
    t = card["training"]
    timing = m.get("cpu_inference")
    timing_md = (
        f"CPU inference with the registered model (whole pipeline, TTA {card['postprocessing']['tta']}): "
        f"{timing['slices']} slices of {timing['shape_yx']} in {timing['seconds']} s on {timing['threads']} "
        f"CPU threads ({timing['note']})."
        if timing
        else ""
    )
    return f"""# Model card: {card["name"]} (`{card["key"]}` {card["version"]})

## Intended use
{card["intended_use"]}

## Limits
{chr(10).join("- " + x for x in card["limitations"])}

## Model
- MONAI `BasicUNetPlusPlus` (2D, features {t["features"]}), input: the slice and its two neighbours (3 channels),
  HU window {card["preprocessing"]["window_hu"]}, resampled in-plane to {card["preprocessing"]["spacing_mm"]} mm,
  centre crop/pad {card["preprocessing"]["size"]} px. Output: background / liver / lesion.
- Inference: slice batches, test-time augmentation {card["postprocessing"]["tta"]} (mean softmax), probabilities
  brought back to the input grid bilinearly one batch at a time, argmax to uint8; largest liver component kept;
  lesions whose surface is less than {card["postprocessing"]["lesion_min_liver_contact"]} liver dropped to
  background; lesions under {card["postprocessing"]["min_lesion_ml"]} mL dropped.
- Weights `{card["weights"]["file"]}` ({card["weights"]["bytes"]} bytes), SHA-256 `{card["weights"]["sha256"]}`.
- {timing_md}

## Data and licence
{chr(10).join(f"- {d['name']}; licence **{d['licence']}**; {d['citation']}" for d in t["data"])}

{IRCAD["licence_implications"]}

## Held-out evaluation (full runtime pipeline at original resolution, with TTA)
Jobs: `lopo_*` leave one IRCAD patient out; `lopo_1.7_nosyn` is the same fold trained without synthetic
lesions (ablation); `ts_out` holds out the TotalSegmentator CT (liver only; its labels are model-made).

**Pre-registered post-processing** (fixed before evaluation: the clean held-out figures):

{head}
{chr(10).join(pre)}

{chr(10).join(details_pre)}

**Registered post-processing** (adds the lesion-in-liver rule; see the tuning note, optimistic):

{head}
{chr(10).join(registered)}

{chr(10).join(details)}

Targets: {m["targets"]}. With two patients these numbers are anecdotes, not estimates.

Tuning: {m["tuning"]}

## Robustness (LOPO folds, registered post-processing, no TTA; Gaussian noise or a constant shift in HU)
| held-out patient | perturbation | liver Dice | lesion Dice | lesions detected | false lesions |
|---|---|---|---|---|---|
{chr(10).join(rob)}

## Training
Registered model: {t["iterations"]} iterations of batch {t["batch"]} on {t["crop"]} px crops in {t["train_seconds"]} s of a time
budget shared by five parallel jobs on one {t.get("gpu") or t["device"]} (each fold's own count is in card.json), seed
{t["seed"]}; AdamW (lr {t["lr"]}, warm-up then cosine), weights averaged (EMA {t["ema_decay"]}); bf16 autocast on the GPU.
Trained on: {", ".join(t["cases"])}.

## Reproduce
`{t["command"]}`

The train step sets each job's iteration count from the measured speed (card.json keeps every count); to
rerun with the registered model's count pass `--iterations {t["iterations"]}` to it (GPU kernels are not
bit-for-bit deterministic, so expect close, not identical, weights). On a CPU, `python manage.py train_model liver_ct_seg --data <ircad folder>` runs
the same recipe with a small budget (batch {CPU_DEFAULTS["batch"]}, {CPU_DEFAULTS["iterations"]} iterations, no liver-only
CT) and writes this version's artefact from that run instead.
"""


def train(
    *,
    data: Path,
    seed: int,
    stage: str,
    out_root: Path | None,
    command: str,
    epochs: int | None = None,
    fold: int | None = None,
    extra: Path | None = None,
) -> dict[str, Any]:
    """Entry point used by ``manage.py train_model liver_ct_seg`` (``epochs`` = iterations here)."""
    result: dict[str, Any] = {}
    if stage in ("cv", "all"):
        result["lopo"] = lopo_run(data=data, extra=extra, seed=seed, fold=fold, iterations=epochs)
    if stage in ("final", "all"):
        result["final"] = final_run(
            data=data,
            extra=extra,
            seed=seed,
            out_root=out_root or ARTEFACT_ROOT,
            command=command,
            iterations=epochs,
        )
    if stage == "card":
        result["final"] = card_refresh(out_root=out_root or ARTEFACT_ROOT)
    return result
