"""``cxr_pneumonia`` 1.1.0: a chest X-ray classifier designed for scanner and exposure shift.

Differences from 1.0.0 (``inference.training.imaging.cxr``):

* input: the grey image is histogram-equalised by mid-rank (``inference.runtime.cxr.equalise_midrank``)
  before the network sees it, so any monotone change of exposure, gamma or window (the commonest
  difference between scanners and sites) leaves the input almost unchanged;
* strong augmentation applied *before* the equalisation: random zoom/crop, rotation, shift,
  aspect, gamma, contrast/brightness, blur, unsharp masking (local contrast, CLAHE-like),
  Gaussian noise and down/up-sampling;
* the same compact MONAI ResNet at a higher resolution (160 px, 5 x 5 Grad-CAM), class-weighted loss;
* the same patient-grouped held-out split as 1.0.0 (``cxr.splits_make``, seed 0), so the two
  versions are compared on identical images; temperature, threshold, the uncertain band and the
  out-of-distribution limits are fitted on the inner validation split only.

Stages (``python -m inference.training.imaging.cxr_robust_card STAGE``): ``fit`` trains one network
(one seed) and keeps its state under var/train; ``v100`` runs 1.0.0 on the held-out split and its
shifts; ``card`` evaluates the fitted networks and writes the artefact and card.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from inference.runtime.networks import cxr_architecture, network_build
from inference.training.imaging import common
from inference.training.imaging.cxr import WORK_DIR, dataset_load, splits_make
from inference.training.run_progress import time_left

VERSION = "1.1.0"
CONFIG: dict[str, Any] = {
    "source_size": 224,
    "size": 160,
    "widths": [16, 32, 64, 128],
    "layers": [1, 1, 1, 1],
    "epochs": 10,
    "batch": 48,
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "mean": 0.5,
    "std": 0.29,
}
AUGMENTATION = (
    "zoom 0.85-1.2 with random crop, rotation +/-10 deg, shift +/-8 %, aspect +/-8 %; gamma exp(U(-0.7, 0.7)) "
    "p 0.8; contrast x0.6-1.4 and brightness +/-0.15 p 0.8; Gaussian blur sigma 0.5-1.5 p 0.25; unsharp "
    "mask (local contrast) p 0.2; down/up-sampling x0.35-0.8 p 0.2; Gaussian noise sd 0-0.06 p 0.5; "
    "all before the mid-rank histogram equalisation"
)


def architecture() -> dict[str, Any]:
    return cxr_architecture(in_channels=1, widths=CONFIG["widths"], layers=CONFIG["layers"])


def equalise_torch(x: torch.Tensor) -> torch.Tensor:
    """Batch version of ``inference.runtime.cxr.equalise_midrank``: x (B, 1, H, W) in [0, 1] ->
    mid-rank of each pixel's 8-bit level, in (0, 1). Quantised first, so ties behave as at run time."""
    b = x.shape[0]
    q = torch.clamp(torch.round(x * 255.0), 0, 255).long().view(b, -1)
    hist = torch.zeros(b, 256, dtype=torch.float64).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float64))
    cdf = torch.cumsum(hist, 1)
    mid = (cdf - hist / 2.0) / q.shape[1]
    return torch.gather(mid, 1, q).view_as(x).float()


def to_input(x01: torch.Tensor) -> torch.Tensor:
    return (equalise_torch(x01) - CONFIG["mean"]) / CONFIG["std"]


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def augment(x: torch.Tensor, gen: torch.Generator, *, size: int) -> torch.Tensor:
    """(B, 1, S0, S0) grey in [0, 1] -> (B, 1, size, size) augmented grey in [0, 1]."""
    n = x.shape[0]

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=gen)

    def coin(p: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) < p

    ang = u(-1, 1) * math.radians(10)
    zoom = u(0.85, 1.2)
    aspect = u(0.92, 1.08)
    sx, sy = 1 / (zoom * aspect), aspect / zoom
    shift = u(-0.08, 0.08, n, 2)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack(
        [torch.stack([cos * sx, -sin * sy, shift[:, 0]], 1), torch.stack([sin * sx, cos * sy, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    # exposure and window
    g = torch.where(coin(0.8), torch.exp(u(-0.7, 0.7)), torch.ones(n)).view(n, 1, 1, 1)
    x = x.clamp(1e-4, 1) ** g
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    on = coin(0.8).view(n, 1, 1, 1)
    c = torch.where(on, u(0.6, 1.4).view(n, 1, 1, 1), torch.ones(n, 1, 1, 1))
    bright = torch.where(on, u(-0.15, 0.15).view(n, 1, 1, 1), torch.zeros(n, 1, 1, 1))
    x = ((x - m) * c + m + bright).clamp(0, 1)
    # sharpness: blur, unsharp mask, lost resolution
    sel = coin(0.25)
    if sel.any():
        x[sel] = _gauss_blur(x[sel], float(u(0.5, 1.5, 1)))
    sel = coin(0.2)
    if sel.any():
        soft = _gauss_blur(x[sel], float(u(2.0, 6.0, 1)))
        x[sel] = (x[sel] + float(u(0.3, 1.0, 1)) * (x[sel] - soft)).clamp(0, 1)
    sel = coin(0.2)
    if sel.any():
        low = max(16, int(size * float(u(0.35, 0.8, 1))))
        x[sel] = F.interpolate(
            F.interpolate(x[sel], size=(low, low), mode="bilinear", antialias=True, align_corners=False),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
        )
    sd = torch.where(coin(0.5), u(0.0, 0.06), torch.zeros(n)).view(n, 1, 1, 1)
    x = x + torch.randn(x.shape, generator=gen) * sd
    return x.clamp(0, 1)


def resize_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


@torch.inference_mode()
def logits_and_features(
    net: torch.nn.Module, grey_u8: NDArray[np.uint8], *, size: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Logits and pooled penultimate features of (N, H, W) uint8 grey images, no augmentation."""
    size = size or CONFIG["size"]
    net.eval()
    feats: list[torch.Tensor] = []
    hook = net.get_submodule("avgpool").register_forward_hook(lambda _m, _i, out: feats.append(out.flatten(1)))
    logits = []
    try:
        for i in range(0, grey_u8.shape[0], 128):
            x = torch.from_numpy(grey_u8[i : i + 128]).float().unsqueeze(1) / 255.0
            logits.append(net(to_input(resize_batch(x, size))).double())
    finally:
        hook.remove()
    return torch.cat(logits).numpy(), torch.cat(feats).double().numpy()


def fit(*, data: Path, seed: int, epochs: int | None = None) -> Path:
    """Train one network on the development data minus the inner validation split."""
    log = common.run_logger(WORK_DIR / f"cxr_robust_seed{seed}.log")
    common.seed_everything(seed)
    ds = dataset_load(data=data, size=CONFIG["source_size"])
    labels = ds["labels"]
    sp = splits_make(labels=labels, groups=ds["groups"], seed=0)
    train_idx, val_idx = sp["final_train"], sp["final_val"]
    n_epochs = epochs or CONFIG["epochs"]
    net = network_build(architecture=architecture())
    opt = torch.optim.AdamW(net.parameters(), lr=CONFIG["lr"], weight_decay=CONFIG["weight_decay"])
    steps = math.ceil(train_idx.size / CONFIG["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=CONFIG["lr"], total_steps=n_epochs * steps, pct_start=0.15
    )
    counts = np.bincount(labels[train_idx], minlength=2).astype(np.float64)
    weight = torch.tensor(counts.sum() / (2 * counts), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(ds["images"])
    t_start = time.time()
    for epoch in range(n_epochs):
        net.train()
        order = rng.permutation(train_idx)
        total, t0 = 0.0, time.time()
        for b in range(steps):
            batch = order[b * CONFIG["batch"] : (b + 1) * CONFIG["batch"]]
            x = images[batch].float().unsqueeze(1) / 255.0
            x = to_input(augment(x, gen, size=CONFIG["size"]))
            y = torch.from_numpy(labels[batch]).long()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y, weight=weight)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * batch.size
        msg = (
            f"seed {seed} epoch {epoch + 1}/{n_epochs} loss {total / train_idx.size:.4f} ({time.time() - t0:.0f}s)"
            f" {time_left(epoch + 1, n_epochs, t_start)}"
        )
        if (epoch + 1) % 5 == 0 or epoch + 1 == n_epochs:
            logits, _ = logits_and_features(net, ds["images"][val_idx])
            msg += f" inner-val AUROC {common.auroc(labels[val_idx], common.softmax_np(logits)[:, 1]):.4f}"
        log(msg)
    path = WORK_DIR / f"cxr_robust_seed{seed}.pt"
    torch.save(net.state_dict(), path)
    meta = {"seed": seed, "epochs": n_epochs, "wall_seconds": round(time.time() - t_start), "config": CONFIG}
    (WORK_DIR / f"cxr_robust_seed{seed}.json").write_text(json.dumps(meta, indent=2))
    log(f"saved {path}")
    return path
