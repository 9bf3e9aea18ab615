"""Training and leave-one-patient-out evaluation of ``liver_ct_seg`` (liver and liver lesions, CT).

Data: a folder of 3D-IRCADb-style patients, each ``<patient>/PATIENT_DICOM/`` (the CT series) and
``<patient>/labels_liver1_tumour2.nii.gz`` (0 background, 1 liver, 2 liver tumour). 3D-IRCADb-01 is
CC BY-NC-ND 4.0: nothing of it is written to the repository, only weights (see the card).

Recipe (after E-U-Net++): HU windowing, in-plane resampling to a fixed spacing, centre crop/pad to a
fixed field of view; training on random crops with random flips and added Gaussian noise; 2.5D
input (the slice and its neighbours as channels); Dice + cross-entropy loss.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from inference.registry import ARTEFACT_ROOT, ModelInputInvalid, model_card_write
from inference.runtime.io import dicom_series_read, nifti_read
from inference.runtime.liver import _lowres_slices, segment_volume
from inference.runtime.networks import liver_architecture, network_build
from inference.runtime.postprocessing import dice, labels_clean
from inference.runtime.training import common

KEY = "liver_ct_seg"
VERSION = "1.0.0"
PREPROCESSING: dict[str, Any] = {
    "window_hu": [-150.0, 250.0],
    "spacing_mm": 1.6,
    "size": 240,
    "context_slices": 1,
    "orientation": "axial slices, x to patient left, y posterior, z superior (DICOM array order)",
}
POSTPROCESSING: dict[str, Any] = {
    "tta": ["identity", "flip_x"],
    "largest_liver_component": True,
    "min_lesion_ml": 0.1,
    "batch": 8,
}
TRAIN: dict[str, Any] = {
    "features": [16, 16, 32, 64, 128, 16],
    "crop": 128,
    "batch": 8,
    "iterations": 400,
    "lr": 2e-3,
    "noise_sd": 0.03,
}
WORK_DIR = Path("var/train")


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
    return {"name": folder.name, "hu": hu, "spacing": spacing, "labels": np.rint(labels).astype(np.uint8)}


def _lowres_labels(labels: NDArray[np.uint8], spacing: tuple[float, float, float]) -> NDArray[np.uint8]:
    """Labels on the model grid: one-hot, antialiased bilinear, argmax (keeps small lesions fairer than nearest)."""
    onehot = np.stack([(labels == c).astype(np.float32) * 1000.0 for c in range(3)], axis=1)  # (z, 3, y, x)
    out = []
    for z0 in range(0, labels.shape[0], 16):
        chunk = onehot[z0 : z0 + 16]
        # reuse the image path per class so geometry matches exactly (window 0..1000 maps one-hot to 0..1)
        per_class = [
            _lowres_slices(
                chunk[:, c], spacing, {**PREPROCESSING, "window_hu": [0.0, 1000.0]}, 0, chunk.shape[0]
            )
            for c in range(3)
        ]
        stacked = torch.stack(per_class, dim=1)
        stacked[:, 0] += (stacked.sum(dim=1) == 0).float()  # padding is background
        out.append(stacked.argmax(dim=1).to(torch.uint8).numpy())
    return np.concatenate(out)


def patient_prepare(p: dict[str, Any]) -> dict[str, Any]:
    x = _lowres_slices(p["hu"], p["spacing"], PREPROCESSING, 0, p["hu"].shape[0]).numpy()
    y = _lowres_labels(p["labels"], p["spacing"])
    return {**p, "x": x, "y": y}


def _sample(
    prepared: list[dict[str, Any]], rng: np.random.Generator, crop: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    p = prepared[rng.integers(len(prepared))]
    x, y = p["x"], p["y"]
    nz, size = x.shape[0], x.shape[1]
    fg = p.setdefault("_fg", np.flatnonzero(y.reshape(nz, -1).max(axis=1) > 0))
    les = p.setdefault("_les", np.flatnonzero(y.reshape(nz, -1).max(axis=1) > 1))
    if les.size and rng.random() < 0.35:
        z = int(rng.choice(les))
        cls = 2
    elif fg.size and rng.random() < 0.85:
        z = int(rng.choice(fg))
        cls = 1
    else:
        z, cls = int(rng.integers(nz)), 0
    if cls and rng.random() < 0.8:
        ys, xs = np.nonzero(y[z] >= cls)
        k = rng.integers(ys.size)
        cy = int(np.clip(ys[k] + rng.integers(-crop // 4, crop // 4 + 1), crop // 2, size - crop // 2))
        cx = int(np.clip(xs[k] + rng.integers(-crop // 4, crop // 4 + 1), crop // 2, size - crop // 2))
    else:
        cy, cx = (int(rng.integers(crop // 2, size - crop // 2 + 1)) for _ in range(2))
    zs = np.clip(np.arange(z - 1, z + 2), 0, nz - 1)
    xi = x[zs, cy - crop // 2 : cy + crop // 2, cx - crop // 2 : cx + crop // 2]
    yi = y[z, cy - crop // 2 : cy + crop // 2, cx - crop // 2 : cx + crop // 2].astype(np.int64)
    if rng.random() < 0.5:
        xi, yi = xi[:, :, ::-1], yi[:, ::-1]
    if rng.random() < 0.5:
        xi, yi = xi[:, ::-1, :], yi[::-1, :]
    if rng.random() < 0.5:
        xi = xi + rng.normal(0, TRAIN["noise_sd"], xi.shape).astype(np.float32)
    return np.ascontiguousarray(xi), np.ascontiguousarray(yi)


def model_fit(
    *, prepared: list[dict[str, Any]], iterations: int, seed: int, desc: str, log: Callable[[str], None]
) -> torch.nn.Module:
    from monai.losses import DiceCELoss

    common.seed_everything(seed)
    device = common.training_device()
    net = network_build(architecture=liver_architecture(in_channels=3, features=TRAIN["features"])).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=TRAIN["lr"], weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=TRAIN["lr"], total_steps=iterations, pct_start=0.1
    )
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    rng = np.random.default_rng(seed)
    net.train()
    running, t0 = 0.0, time.time()
    for it in tqdm(range(iterations), desc=desc, mininterval=30):
        batch = [_sample(prepared, rng, TRAIN["crop"]) for _ in range(TRAIN["batch"])]
        x = torch.from_numpy(np.stack([b[0] for b in batch])).to(device)
        y = torch.from_numpy(np.stack([b[1] for b in batch]))[:, None].to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if (it + 1) % 50 == 0:
            log(f"{desc} it {it + 1}/{iterations} loss {running / 50:.4f} ({time.time() - t0:.0f}s)")
            running = 0.0
    net.eval()
    return net


def evaluate(
    *, net: torch.nn.Module, patient: dict[str, Any], tta: list[str], hu: NDArray[Any] | None = None
) -> dict[str, Any]:
    """Metrics of the full inference pipeline on one patient at its original resolution."""
    from scipy import ndimage

    t0 = time.time()
    volume = patient["hu"] if hu is None else hu
    raw, _, _ = segment_volume(
        net=net,
        device=next(net.parameters()).device,
        volume_hu=volume,
        spacing_mm=patient["spacing"],
        preprocessing=PREPROCESSING,
        tta=tta,
    )
    pred = labels_clean(raw, spacing=patient["spacing"], settings=POSTPROCESSING)
    gt = patient["labels"]
    gt_comp, n_gt = ndimage.label(gt == 2, structure=np.ones((3, 3, 3), bool))
    pr_comp, n_pr = ndimage.label(pred == 2, structure=np.ones((3, 3, 3), bool))
    detected = sum(1 for k in range(1, n_gt + 1) if (pred[gt_comp == k] == 2).any())
    false_pos = sum(1 for k in range(1, n_pr + 1) if not (gt[pr_comp == k] == 2).any())
    return {
        "patient": patient["name"],
        "liver_dice": round(dice(pred > 0, gt > 0), 4),
        "lesion_dice": round(dice(pred == 2, gt == 2), 4) if n_gt else None,
        "lesions_true": int(n_gt),
        "lesions_detected": int(detected),
        "lesions_predicted": int(n_pr),
        "false_positive_lesions": int(false_pos),
        "seconds": round(time.time() - t0, 1),
        "tta": tta,
    }


def _logger(path: Path) -> Callable[[str], None]:
    path.parent.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with path.open("a") as fh:
            fh.write(line + "\n")
        tqdm.write(line)

    return log


def lopo_run(*, data: Path, seed: int, fold: int | None, iterations: int | None) -> list[dict[str, Any]]:
    """Leave one patient out: train on the others, evaluate on the one left out; robustness on each."""
    patients = [patient_prepare(patient_load(p)) for p in patients_find(data)]
    results = []
    for k, test in enumerate(patients):
        if fold is not None and k != fold:
            continue
        log = _logger(WORK_DIR / f"liver_lopo_{k}.log")
        train = [p for j, p in enumerate(patients) if j != k]
        net = model_fit(
            prepared=train,
            iterations=iterations or TRAIN["iterations"],
            seed=seed,
            desc=f"lopo {test['name']}",
            log=log,
        )
        result = evaluate(net=net, patient=test, tta=POSTPROCESSING["tta"])
        result["trained_on"] = [p["name"] for p in train]
        log(f"LOPO {json.dumps(result)}")
        rng = np.random.default_rng(seed)
        robustness = []
        # only informative where the model has seen lesions (otherwise lesion metrics are trivially 0)
        perturbations = [
            ("noise_sd_hu", 20.0),
            ("noise_sd_hu", 50.0),
            ("shift_hu", -30.0),
            ("shift_hu", 30.0),
        ]
        for kind, level in perturbations if any((p["y"] == 2).any() for p in train) else []:
            hu = test["hu"] + (
                rng.normal(0, level, test["hu"].shape).astype(np.float32)
                if kind == "noise_sd_hu"
                else np.float32(level)
            )
            r = evaluate(net=net, patient=test, tta=["identity"], hu=hu)
            robustness.append(
                {
                    "perturbation": kind,
                    "level": level,
                    **{
                        m: r[m]
                        for m in ("liver_dice", "lesion_dice", "lesions_detected", "false_positive_lesions")
                    },
                }
            )
            log(f"robustness {json.dumps(robustness[-1])}")
        result["robustness"] = robustness
        (WORK_DIR / f"liver_lopo_{k}.json").write_text(json.dumps(result, indent=2))
        results.append(result)
    return results


def final_run(
    *, data: Path, seed: int, out_root: Path, command: str, iterations: int | None
) -> dict[str, Any]:
    log = _logger(WORK_DIR / "liver_final.log")
    patients = [patient_prepare(patient_load(p)) for p in patients_find(data)]
    n_it = iterations or TRAIN["iterations"]
    t0 = time.time()
    net = model_fit(prepared=patients, iterations=n_it, seed=seed, desc="final", log=log)
    train_s = time.time() - t0
    directory = out_root / KEY / VERSION
    weights = common.state_dict_save(model=net, path=directory / "weights.pt")
    meta = {
        "weights": weights,
        "patients": [p["name"] for p in patients],
        "seed": seed,
        "command": command,
        "n_it": n_it,
        "train_s": train_s,
    }
    (WORK_DIR / "liver_final_meta.json").write_text(json.dumps(meta, indent=2))
    card = card_refresh(out_root=out_root)
    log(f"wrote {directory}")
    return card


def card_refresh(*, out_root: Path) -> dict[str, Any]:
    """(Re)write card.json and MODEL_CARD.md from the final run's record and the LOPO results in var/train
    (the folds and the final model can then be trained in parallel)."""
    meta = json.loads((WORK_DIR / "liver_final_meta.json").read_text())
    lopo = [json.loads(p.read_text()) for p in sorted(WORK_DIR.glob("liver_lopo_*.json"))]
    fit_path = WORK_DIR / "liver_trainfit.json"  # written by ``training_fit_run`` (optional)
    card = _card(
        training_fit=json.loads(fit_path.read_text()) if fit_path.exists() else [],
        weights=meta["weights"],
        lopo=lopo,
        patients=[{"name": n} for n in meta["patients"]],
        seed=meta["seed"],
        command=meta["command"],
        n_it=meta["n_it"],
        train_s=meta["train_s"],
    )
    model_card_write(directory=out_root / KEY / VERSION, data=card, markdown=_markdown(card))
    return card


def _card(**kw: Any) -> dict[str, Any]:
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
            "Trained on TWO patients (3D-IRCADb-01 1.1 and 1.7); leave-one-patient-out is the only evaluation, and "
            "the lesion model learnt from one patient's seven tumours. Expect misses and false lesions on other data.",
            "2D slice-wise model at 1.6 mm in-plane resolution (240 x 240 field of 384 mm); inputs with a wider "
            "field are centre-cropped, so liver outside the central 384 mm is missed.",
            "Non-commercial use only: the training data are CC BY-NC-ND 4.0 (see training.data).",
        ],
        "architecture": liver_architecture(in_channels=3, features=TRAIN["features"]),
        "weights": kw["weights"],
        "preprocessing": PREPROCESSING,
        "postprocessing": POSTPROCESSING,
        "training": {
            "data": [
                {
                    "name": "3D-IRCADb-01 patients 1.1 and 1.7 (IRCAD, Strasbourg)",
                    "licence": "CC BY-NC-ND 4.0",
                    "citation": "Soler L et al. 3D image reconstruction for comparison of algorithm database. IRCAD Tech. Rep., 2010.",
                    "patients": [p["name"] for p in kw["patients"]],
                    "licence_implications": (
                        "No image or label of the data set is stored in this repository. The weights are derived from "
                        "the data; whether weights are 'adapted material' under CC BY-NC-ND is legally unsettled, so they "
                        "are distributed with the data's restrictions: attribution to IRCAD, non-commercial use only, and "
                        "not to be offered as a licensed derivative of the data. Retrain on suitably licensed data "
                        "(e.g. LiTS under its terms, or local data) before any commercial or clinical deployment."
                    ),
                }
            ],
            "recipe": "E-U-Net++-style: random crops, random flips, added Gaussian noise; centre crop at test",
            **TRAIN,
            "iterations": kw["n_it"],
            "loss": "Dice + cross-entropy (MONAI DiceCELoss)",
            "seed": kw["seed"],
            "command": kw["command"],
            "wall_seconds": round(kw["train_s"]),
            "device": str(common.training_device()),
        },
        "metrics": {
            "leave_one_patient_out": kw["lopo"],
            "training_fit": kw.get("training_fit", []),
            "command": kw["command"],
            "targets": "liver Dice >= 0.95, lesion Dice >= 0.64, no lesion on the lesion-free liver",
        },
        "created": common.today(),
    }


def _fmt(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:.4f}"


def _markdown(card: dict[str, Any]) -> str:
    rows = []
    rob = []
    for r in card["metrics"]["leave_one_patient_out"]:
        rows.append(
            f"| {r['patient']} | {', '.join(r['trained_on'])} | {r['liver_dice']:.4f} | "
            f"{_fmt(r['lesion_dice'], 'n/a (no lesion)')} | "
            f"{r['lesions_detected']}/{r['lesions_true']} | {r['false_positive_lesions']} | {r['seconds']} |"
        )
        for x in r.get("robustness", []):
            rob.append(
                f"| {r['patient']} | {x['perturbation']} {x['level']} | {x['liver_dice']:.4f} | "
                f"{_fmt(x['lesion_dice'], 'n/a')} | {x['lesions_detected']} | {x['false_positive_lesions']} |"
            )
    fit = [
        f"| {r['patient']} | {r['liver_dice']:.4f} | {_fmt(r['lesion_dice'], 'n/a (no lesion)')} | "
        f"{r['lesions_detected']}/{r['lesions_true']} | {r['false_positive_lesions']} |"
        for r in card["metrics"].get("training_fit", [])
    ]
    t = card["training"]
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
  lesions under {card["postprocessing"]["min_lesion_ml"]} mL dropped.
- Weights `{card["weights"]["file"]}` ({card["weights"]["bytes"]} bytes), SHA-256 `{card["weights"]["sha256"]}`.

## Data and licence
{t["data"][0]["name"]}; licence **{t["data"][0]["licence"]}**; {t["data"][0]["citation"]}

{t["data"][0]["licence_implications"]}

## Leave-one-patient-out (full pipeline at original resolution, with TTA)
| held-out patient | trained on | liver Dice | lesion Dice | lesions detected | false lesions | seconds |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Targets: {card["metrics"]["targets"]}. With two patients these numbers are anecdotes, not estimates.

## Fit on the training patients (final model; resubstitution, NOT an evaluation)
| patient | liver Dice | lesion Dice | lesions detected | false lesions |
|---|---|---|---|---|
{chr(10).join(fit)}

The final model does not fit even its own training data well (400 iterations on a CPU budget): it is
under-trained, and the LOPO rows above are worse still because each fold saw one patient only.

## Robustness (same folds, no TTA; Gaussian noise or a constant shift added in HU)
| held-out patient | perturbation | liver Dice | lesion Dice | lesions detected | false lesions |
|---|---|---|---|---|---|
{chr(10).join(rob)}

## Reproduce
`{t["command"]}` (seed {t["seed"]}, {t["iterations"]} iterations of batch {t["batch"]} on {t["crop"]} px crops,
{t["wall_seconds"]} s on {t["device"]}, 1 thread). The LOPO rows come from the `cv` stage of the same command.
"""


def training_fit_run(*, data: Path) -> list[dict[str, Any]]:
    """Resubstitution check of the registered model on its own training patients (var/train/liver_trainfit.json)."""
    from inference.runtime.predictor import model_load

    model = model_load(key=KEY)
    rows = [
        evaluate(net=model.net, patient=patient_load(p), tta=POSTPROCESSING["tta"])
        for p in patients_find(data)
    ]
    (WORK_DIR / "liver_trainfit.json").write_text(json.dumps(rows, indent=2))
    return rows


def train(
    *,
    data: Path,
    seed: int,
    stage: str,
    out_root: Path | None,
    command: str,
    epochs: int | None = None,
    fold: int | None = None,
) -> dict[str, Any]:
    """Entry point used by ``manage.py train_model liver_ct_seg`` (``epochs`` = iterations here)."""
    result: dict[str, Any] = {}
    if stage in ("cv", "all"):
        result["lopo"] = lopo_run(data=data, seed=seed, fold=fold, iterations=epochs)
    if stage in ("final", "all"):
        result["final"] = final_run(
            data=data, seed=seed, out_root=out_root or ARTEFACT_ROOT, command=command, iterations=epochs
        )
    if stage == "card":
        if not (WORK_DIR / "liver_trainfit.json").exists():
            result["training_fit"] = training_fit_run(data=data)
        result["final"] = card_refresh(out_root=out_root or ARTEFACT_ROOT)
    return result
