"""Training and evaluation of ``cxr_pneumonia`` (paediatric chest X-ray, NORMAL vs PNEUMONIA).

Data: the Kermany et al. 2018 training split resized to 224 px (CC BY 4.0), read from a folder
holding ``train_labels.csv`` and ``train/{NORMAL,PNEUMONIA}/*.jpeg``.

Protocol (all splits grouped by patient, stratified by class, fixed seed):

1. a held-out split (about 1/7 of the patients) is set aside first and used only once, for the
   headline metrics of the final model;
2. on the remaining development data, 5-fold cross-validation compares the two input modes
   (grey vs pseudo-colour) with the same network and schedule;
3. the final model is trained on the development data minus an inner validation split (1/7 of
   the development patients), on which the temperature and the decision threshold are fitted.

Stages can be run apart (``cv`` per colour mode in parallel, then ``final``); ``all`` runs them in order.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from inference.registry import ARTEFACT_ROOT, ModelInputInvalid, model_card_write
from inference.runtime.networks import cxr_architecture, network_build
from inference.runtime.preprocessing import cxr_channels
from inference.training.imaging import common
from inference.training.run_progress import time_left

KEY = "cxr_pneumonia"
VERSION = "1.0.0"
CLASSES = ["NORMAL", "PNEUMONIA"]
DEFAULTS: dict[str, Any] = {
    "size": 128,
    "widths": [16, 32, 64, 128],
    "layers": [1, 1, 1, 1],
    "epochs": 10,
    "cv_epochs": 8,
    "folds": 5,
    "batch": 64,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "mean": 0.5,
    "std": 0.25,
}
EXPLANATION = (
    "Grad-CAM of the predicted class (the thresholded label) on layer4 (4 x 4 at 128 px input), upsampled "
    "bilinearly and min-max scaled per image; computed from the same forward pass as the prediction "
    "(equal to MONAI GradCAM with a min-max normaliser, see tests)."
)
CACHE_DIR = Path("var/cache")
WORK_DIR = Path("var/train")
_GROUP_RES = [
    re.compile(r"^(person\d+)_"),
    re.compile(r"^(NORMAL2-IM-\d+)-"),
    re.compile(r"^(IM-\d+)-"),
]


def patient_id(name: str) -> str:
    """Patient-like id from a Kermany file name (``personN``, ``IM-NNNN``, ``NORMAL2-IM-NNNN``)."""
    for rx in _GROUP_RES:
        m = rx.match(name)
        if m:
            return m.group(1)
    return name


def dataset_load(*, data: Path, size: int) -> dict[str, NDArray[Any]]:
    """Images (N, S, S) uint8 grey, labels, names and patient groups; cached under var/cache.

    Byte-identical files are put in one group (the source notes 30 such groups), so a duplicate
    can never sit on both sides of a split.
    """
    cache = CACHE_DIR / f"cxr_kermany_{size}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    rows = [line.split(",") for line in (data / "train_labels.csv").read_text().splitlines()[1:] if line]
    images = np.zeros((len(rows), size, size), dtype=np.uint8)
    labels = np.zeros(len(rows), dtype=np.int64)
    names: list[str] = []
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    first_by_hash: dict[str, str] = {}
    for i, (rel, _label, label_id) in enumerate(tqdm(rows, desc="decode", mininterval=5)):
        raw = (data / rel).read_bytes()
        name = Path(rel).name
        pid = patient_id(name)
        other = first_by_hash.setdefault(hashlib.sha256(raw).hexdigest(), pid)
        parent[find(pid)] = find(other)  # union: duplicates join their patients' groups
        with Image.open(data / rel) as im:
            images[i] = np.asarray(im.convert("L").resize((size, size), Image.Resampling.BILINEAR))
        labels[i] = int(label_id)
        names.append(name)
    merged = [find(patient_id(n)) for n in names]
    out: dict[str, NDArray[Any]] = {
        "images": images,
        "labels": labels,
        "names": np.array(names),
        "groups": np.array(merged),
    }
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)  # type: ignore[arg-type]
    return out


def splits_make(*, labels: NDArray[Any], groups: NDArray[Any], seed: int) -> dict[str, Any]:
    """Held-out indices, development indices, CV folds on development, inner validation split."""
    idx = np.arange(labels.size)
    outer = StratifiedGroupKFold(n_splits=7, shuffle=True, random_state=seed)
    dev, hold = next(iter(outer.split(idx, labels, groups)))
    cv = StratifiedGroupKFold(n_splits=DEFAULTS["folds"], shuffle=True, random_state=seed)
    folds = [(dev[a], dev[b]) for a, b in cv.split(dev, labels[dev], groups[dev])]
    inner = StratifiedGroupKFold(n_splits=7, shuffle=True, random_state=seed + 1)
    tr, va = next(iter(inner.split(dev, labels[dev], groups[dev])))
    assert not set(groups[hold]) & set(groups[dev])
    return {"holdout": hold, "dev": dev, "folds": folds, "final_train": dev[tr], "final_val": dev[va]}


def channels_all(images: NDArray[np.uint8], *, colour: str) -> NDArray[np.uint8]:
    settings = {"colour": colour, "clahe": {"clip_limit": 2.0, "tiles": 8}}
    return np.stack(
        [cxr_channels(im, settings=settings) for im in tqdm(images, desc=f"{colour}", mininterval=10)]
    )


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random affine (rotation, scale, shift), contrast/brightness jitter and noise."""
    n = x.shape[0]
    ang = (torch.rand(n, generator=gen) - 0.5) * 2 * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=gen) - 0.5) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    bright = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    noise = torch.randn(x.shape, generator=gen) * 0.03
    return x * contrast + bright + noise


def _to_input(chans_u8: NDArray[np.uint8]) -> torch.Tensor:
    x = torch.from_numpy(chans_u8).float() / 255.0
    return (x - DEFAULTS["mean"]) / DEFAULTS["std"]


def model_fit(
    *,
    chans: NDArray[np.uint8],
    labels: NDArray[Any],
    train_idx: NDArray[Any],
    epochs: int,
    seed: int,
    desc: str,
    log: Callable[[str], None],
) -> torch.nn.Module:
    common.seed_everything(seed)
    device = common.training_device()
    net = network_build(
        architecture=cxr_architecture(
            in_channels=chans.shape[1], widths=DEFAULTS["widths"], layers=DEFAULTS["layers"]
        )
    ).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=DEFAULTS["lr"], weight_decay=DEFAULTS["weight_decay"])
    steps_per_epoch = math.ceil(train_idx.size / DEFAULTS["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=DEFAULTS["lr"], total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.time()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(train_idx)
        total, t0 = 0.0, time.time()
        for b in tqdm(
            range(steps_per_epoch), desc=f"{desc} epoch {epoch + 1}/{epochs}", mininterval=30, leave=False
        ):
            batch = order[b * DEFAULTS["batch"] : (b + 1) * DEFAULTS["batch"]]
            x = _augment(_to_input(chans[batch]), gen).to(device)
            y = torch.from_numpy(labels[batch]).long().to(device)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * batch.size
        log(
            f"{desc} epoch {epoch + 1}/{epochs} loss {total / train_idx.size:.4f} ({time.time() - t0:.0f}s)"
            f" {time_left(epoch + 1, epochs, started)}"
        )
    return net


@torch.inference_mode()
def logits_predict(net: torch.nn.Module, chans: NDArray[np.uint8], idx: NDArray[Any]) -> NDArray[np.float64]:
    net.eval()
    device = next(net.parameters()).device
    out = [
        net(_to_input(chans[idx[i : i + 256]]).to(device)).double().cpu().numpy()
        for i in range(0, idx.size, 256)
    ]
    return np.concatenate(out) if out else np.zeros((0, 2))


def cv_run(*, data: Path, colour: str, seed: int, epochs: int | None = None) -> dict[str, Any]:
    """Grouped 5-fold CV on the development data for one colour mode; writes var/train/cxr_cv_<colour>.json."""
    log = common.run_logger(WORK_DIR / f"cxr_cv_{colour}.log")
    ds = dataset_load(data=data, size=DEFAULTS["size"])
    sp = splits_make(labels=ds["labels"], groups=ds["groups"], seed=seed)
    chans = channels_all(ds["images"], colour=colour)
    n_epochs = epochs or DEFAULTS["cv_epochs"]
    fold_auc = []
    for k, (tr, va) in enumerate(sp["folds"]):
        net = model_fit(
            chans=chans,
            labels=ds["labels"],
            train_idx=tr,
            epochs=n_epochs,
            seed=seed + k,
            desc=f"{colour} fold {k}",
            log=log,
        )
        probs = common.softmax_np(logits_predict(net, chans, va))[:, 1]
        fold_auc.append(common.auroc(ds["labels"][va], probs))
        log(f"{colour} fold {k} AUROC {fold_auc[-1]:.4f} (n={va.size})")
    result = {
        "colour": colour,
        "folds": len(fold_auc),
        "epochs": n_epochs,
        "auroc_per_fold": fold_auc,
        "auroc_mean": float(np.mean(fold_auc)),
        "auroc_sd": float(np.std(fold_auc, ddof=1)),
        "n_dev": int(sp["dev"].size),
        "seed": seed,
    }
    (WORK_DIR / f"cxr_cv_{colour}.json").write_text(json.dumps(result, indent=2))
    log(f"{colour} CV AUROC {result['auroc_mean']:.4f} +/- {result['auroc_sd']:.4f}")
    return result


def _robustness(
    net: torch.nn.Module, chans_u8: NDArray[np.uint8], labels: NDArray[Any], colour: str, seed: int
) -> list[dict[str, Any]]:
    """Held-out AUROC when grey images get Gaussian noise or an intensity shift (before colour mapping)."""
    rng = np.random.default_rng(seed)
    grey = chans_u8[:, 0].astype(np.float32) / 255.0
    out = []
    for kind, level in [
        ("none", 0.0),
        ("noise_sd", 0.02),
        ("noise_sd", 0.05),
        ("noise_sd", 0.10),
        ("shift", -0.10),
        ("shift", 0.10),
    ]:
        if kind == "noise_sd":
            g = grey + rng.normal(0, level, grey.shape).astype(np.float32)
        elif kind == "shift":
            g = grey + level
        else:
            g = grey
        g8 = np.clip(np.rint(g * 255), 0, 255).astype(np.uint8)
        ch = channels_all(g8, colour=colour) if colour != "grayscale" else g8[:, None]
        probs = common.softmax_np(logits_predict(net, ch, np.arange(labels.size)))[:, 1]
        out.append({"perturbation": kind, "level": level, "auroc": common.auroc(labels, probs)})
    return out


def final_run(
    *, data: Path, seed: int, colour: str | None, out_root: Path, command: str, epochs: int | None = None
) -> dict[str, Any]:
    """Train the registered model, calibrate, pick the threshold, evaluate once on the held-out split."""
    log = common.run_logger(WORK_DIR / "cxr_final.log")
    cv = {
        c: json.loads(p.read_text())
        for c in ("grayscale", "pseudocolour")
        if (p := WORK_DIR / f"cxr_cv_{c}.json").exists()
    }
    if colour is None:
        colour = max(cv, key=lambda c: cv[c]["auroc_mean"]) if cv else "grayscale"
    log(
        f"final model: colour={colour} (CV results: { {c: round(v['auroc_mean'], 4) for c, v in cv.items()} })"
    )
    ds = dataset_load(data=data, size=DEFAULTS["size"])
    labels, groups = ds["labels"], ds["groups"]
    sp = splits_make(labels=labels, groups=groups, seed=seed)
    chans = channels_all(ds["images"], colour=colour)
    n_epochs = epochs or DEFAULTS["epochs"]
    t0 = time.time()
    net = model_fit(
        chans=chans,
        labels=labels,
        train_idx=sp["final_train"],
        epochs=n_epochs,
        seed=seed,
        desc="final",
        log=log,
    )
    train_s = time.time() - t0
    val_logits = logits_predict(net, chans, sp["final_val"])
    temperature = common.temperature_fit(val_logits, labels[sp["final_val"]])
    val_probs = common.softmax_np(val_logits, temperature)[:, 1]
    threshold = common.youden_threshold(labels[sp["final_val"]], val_probs)
    hold = sp["holdout"]
    hold_logits = logits_predict(net, chans, hold)
    hold_probs = common.softmax_np(hold_logits, temperature)[:, 1]
    hold_raw = common.softmax_np(hold_logits)[:, 1]
    report: dict[str, Any] = dict(common.binary_report(labels[hold], hold_probs, threshold))
    report["auroc_ci95_patient_bootstrap"] = list(
        common.bootstrap_ci(labels[hold], hold_probs, groups=groups[hold], seed=seed)
    )
    report["ece_10bin_uncalibrated"] = common.binary_report(labels[hold], hold_raw, 0.5)["ece_10bin"]
    report["n_patients"] = len(set(groups[hold].tolist()))
    robustness = _robustness(
        net, ds["images"][hold][:, None] if colour == "grayscale" else chans[hold], labels[hold], colour, seed
    )
    log(f"held-out: {json.dumps(report)}")
    log(f"robustness: {json.dumps(robustness)}")

    directory = out_root / KEY / VERSION
    weights = common.state_dict_save(model=net, path=directory / "weights.pt")
    (directory / "heldout_split.json").write_text(
        json.dumps({"seed": seed, "holdout_files": sorted(ds["names"][hold].tolist())}, indent=0) + "\n"
    )
    arch = cxr_architecture(in_channels=chans.shape[1], widths=DEFAULTS["widths"], layers=DEFAULTS["layers"])
    card = _card(
        colour=colour,
        arch=arch,
        weights=weights,
        temperature=temperature,
        threshold=threshold,
        report=report,
        robustness=robustness,
        cv=cv,
        sp=sp,
        labels=labels,
        groups=groups,
        seed=seed,
        command=command,
        n_epochs=n_epochs,
        train_s=train_s,
    )
    model_card_write(directory=directory, data=card, markdown=_markdown(card))
    log(f"wrote {directory}")
    return card


def _card(**kw: Any) -> dict[str, Any]:
    sp, labels, groups = kw["sp"], kw["labels"], kw["groups"]

    def counts(idx: NDArray[Any]) -> dict[str, int]:
        return {
            "images": int(idx.size),
            "patients": len(set(groups[idx].tolist())),
            "pneumonia": int(labels[idx].sum()),
        }

    return {
        "key": KEY,
        "version": VERSION,
        "name": "Paediatric chest X-ray pneumonia classifier",
        "task": "classification",
        "modality": ["CR", "DX"],
        "classes": CLASSES,
        "positive_class": "PNEUMONIA",
        "intended_use": (
            "Decision support: flags frontal (AP) chest radiographs of children aged 1-5 years that show "
            "signs of pneumonia, with a Grad-CAM heatmap, for review by a clinician. Not a diagnosis; not "
            "validated on adults, lateral views, other hospitals or other scanners."
        ),
        "limitations": [
            "Trained and evaluated on one centre (Guangzhou Women and Children's Medical Center); the held-out "
            "split is patient-disjoint but from the same source, so it overestimates performance elsewhere.",
            f"Reduced resolution: {DEFAULTS['size']} px square (aspect ratio not kept), chosen for CPU training.",
            "Bacterial and viral pneumonia are pooled; no other findings are detected.",
            "Grad-CAM maps are coarse (4 x 4 feature map, stride 32) and show where the network looked, not a lesion outline.",
        ],
        "architecture": kw["arch"],
        "weights": kw["weights"],
        "preprocessing": {
            "size": DEFAULTS["size"],
            "colour": kw["colour"],
            "clahe": {"clip_limit": 2.0, "tiles": 8},
            "mean": DEFAULTS["mean"],
            "std": DEFAULTS["std"],
            "input": "any 2D grey or RGB image; converted to grey uint8, resized square (bilinear)",
        },
        "postprocessing": {
            "temperature": kw["temperature"],
            "threshold": kw["threshold"],
            "threshold_rule": "Youden J on calibrated probabilities of the inner validation split",
            "calibration": "temperature scaling fitted on the inner validation split",
            "explanation": EXPLANATION,
        },
        "training": {
            "data": [
                {
                    "name": "Kermany et al. chest X-ray (pneumonia), official train split, resized to 224 px",
                    "licence": "CC BY 4.0",
                    "citation": "Kermany DS et al. Cell 2018;172(5):1122-1131. doi:10.1016/j.cell.2018.02.010; data doi:10.17632/rscbjbr9sj.2",
                    "images": int(labels.size),
                }
            ],
            "splits": {
                "holdout": counts(sp["holdout"]),
                "final_train": counts(sp["final_train"]),
                "final_val": counts(sp["final_val"]),
                "grouping": "patient id from the file name; byte-identical files share a group",
            },
            "epochs": kw["n_epochs"],
            "batch": DEFAULTS["batch"],
            "optimiser": f"AdamW lr {DEFAULTS['lr']} one-cycle, weight decay {DEFAULTS['weight_decay']}",
            "augmentation": "rotation +/-10 deg, scale +/-10 %, shift +/-6 %, contrast/brightness +/-15 %, Gaussian noise sd 0.03",
            "seed": kw["seed"],
            "command": kw["command"],
            "wall_seconds": round(kw["train_s"]),
            "device": str(common.training_device()),
        },
        "metrics": {
            "heldout": kw["report"],
            "cross_validation": kw["cv"],
            "robustness_heldout": kw["robustness"],
            "command": kw["command"],
            "reference": "MedMNIST v2 PneumoniaMNIST best ResNet-50 (224 px) AUROC 0.962 on the official test split",
        },
        "created": common.today(),
    }


def _cv_verdict(cv: dict[str, Any]) -> str:
    if len(cv) < 2:
        return ""
    g, p = cv["grayscale"], cv["pseudocolour"]
    diff = p["auroc_mean"] - g["auroc_mean"]
    noise = max(g["auroc_sd"], p["auroc_sd"])
    if abs(diff) < noise:
        return (
            f"The difference ({diff:+.4f}) is smaller than the fold-to-fold SD ({noise:.4f}): no evidence that "
            "either input mode is better at this resolution."
        )
    return f"Pseudo-colour minus grey: {diff:+.4f} (fold SD {noise:.4f})."


def _markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    h = m["heldout"]
    cv_rows = "\n".join(
        f"| {c} | {v['folds']} | {v['epochs']} | {v['auroc_mean']:.4f} +/- {v['auroc_sd']:.4f} | "
        + ", ".join(f"{a:.4f}" for a in v["auroc_per_fold"])
        + " |"
        for c, v in m["cross_validation"].items()
    )
    rob_rows = "\n".join(
        f"| {r['perturbation']} | {r['level']} | {r['auroc']:.4f} |" for r in m["robustness_heldout"]
    )
    sp = card["training"]["splits"]
    return f"""# Model card: {card["name"]} (`{card["key"]}` {card["version"]})

## Intended use
{card["intended_use"]}

## Limits
{chr(10).join("- " + x for x in card["limitations"])}

## Model
- Network: MONAI `ResNet` (2D, basic blocks, layers {card["architecture"]["kwargs"]["layers"]}, widths
  {card["architecture"]["kwargs"]["block_inplanes"]}), {card["preprocessing"]["size"]} px input,
  input mode **{card["preprocessing"]["colour"]}**; weights `{card["weights"]["file"]}` ({card["weights"]["bytes"]} bytes),
  SHA-256 `{card["weights"]["sha256"]}`.
- Output: softmax over {card["classes"]}, divided by temperature T = {card["postprocessing"]["temperature"]:.3f}
  (fitted on validation data); decision threshold {card["postprocessing"]["threshold"]:.4f} on the calibrated
  PNEUMONIA probability ({card["postprocessing"]["threshold_rule"]}).
- Explanation: {card["postprocessing"]["explanation"]}

## Data
Kermany et al. 2018 (CC BY 4.0; {card["training"]["data"][0]["citation"]}), official training split, 224 px copy,
{card["training"]["data"][0]["images"]} images. Splits grouped by patient id:
held-out {sp["holdout"]}, final training {sp["final_train"]}, inner validation {sp["final_val"]}.
The held-out file list is `heldout_split.json`; it was never used for training, tuning or the choice of input mode.

## Held-out metrics (patient-disjoint, same centre)
| metric | value |
|---|---|
| AUROC | {h["auroc"]:.4f} (95 % CI {h["auroc_ci95_patient_bootstrap"][0]:.4f}-{h["auroc_ci95_patient_bootstrap"][1]:.4f}, patient bootstrap) |
| sensitivity at threshold | {h["sensitivity"]:.4f} |
| specificity at threshold | {h["specificity"]:.4f} |
| accuracy | {h["accuracy"]:.4f} |
| Brier score (calibrated) | {h["brier"]:.4f} |
| ECE, 10 bins: calibrated / uncalibrated | {h["ece_10bin"]:.4f} / {h["ece_10bin_uncalibrated"]:.4f} |
| images (pneumonia) / patients | {h["n"]} ({h["n_positive"]}) / {h["n_patients"]} |

Reference: {m["reference"]}. The official test split is not in this repository's data; the number above is on a
patient-grouped split of the training source and is therefore not directly comparable (it is likely optimistic).

## Grey vs pseudo-colour input (5-fold patient-grouped CV on the development data)
| input | folds | epochs | AUROC mean +/- sd | per fold |
|---|---|---|---|---|
{cv_rows}

Pseudo-colour = 3 channels (grey, global histogram equalisation, CLAHE clip 2.0 on 8x8 tiles). The mode with the
higher CV mean was chosen for the final model. {_cv_verdict(m["cross_validation"])}

## Robustness (held-out AUROC; perturbation applied to the grey image in [0, 1] before the colour mapping)
| perturbation | level | AUROC |
|---|---|---|
{rob_rows}

## Reproduce
`{m["command"]}` (seed {card["training"]["seed"]}, {card["training"]["epochs"]} epochs, {card["training"]["wall_seconds"]} s on
{card["training"]["device"]}, 1 thread).
"""


def train(
    *,
    data: Path,
    seed: int,
    stage: str,
    colour: str | None,
    out_root: Path | None,
    command: str,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Entry point used by ``manage.py train_model cxr_pneumonia``."""
    if not (data / "train_labels.csv").exists():
        raise ModelInputInvalid("data folder lacks train_labels.csv", detail={"data": str(data)})
    result: dict[str, Any] = {}
    if stage in ("cv", "all"):
        for mode in [colour] if colour else ["grayscale", "pseudocolour"]:
            result[f"cv_{mode}"] = cv_run(data=data, colour=mode, seed=seed, epochs=epochs)
    if stage in ("final", "all"):
        result["final"] = final_run(
            data=data,
            seed=seed,
            colour=colour,
            out_root=out_root or ARTEFACT_ROOT,
            command=command,
            epochs=epochs,
        )
    return result
