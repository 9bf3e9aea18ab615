"""Helpers shared by the imaging training pipelines (seeding, metrics, calibration, artefact writing)."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from inference.registry import sha256_file


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def threads_set(threads: int | None) -> None:
    """Bound CPU threads (the development machines are shared); ``CDSS_TORCH_THREADS`` overrides."""
    n = threads or int(os.environ.get("CDSS_TORCH_THREADS", "1"))
    torch.set_num_threads(max(1, n))


def run_logger(path: Path) -> Callable[[str], None]:
    """A long run's log: each line timestamped, appended to ``path`` and printed above the
    progress bars."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with path.open("a") as fh:
            fh.write(line + "\n")
        tqdm.write(line)

    return log


def training_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def auroc(labels: NDArray[Any], scores: NDArray[Any]) -> float:
    """Area under the ROC curve (Mann-Whitney form, ties counted half)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = scores[labels], scores[~labels]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(order.size, dtype=np.float64)
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < allv.size:
        j = i
        while j + 1 < allv.size and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    r_pos = ranks[: pos.size].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def bootstrap_ci(
    labels: NDArray[Any],
    scores: NDArray[Any],
    *,
    groups: NDArray[Any] | None = None,
    n: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % percentile bootstrap CI of the AUROC, resampling patients (groups) when given."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if groups is None:
        groups = np.arange(labels.size)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(uniq.size)]
    values = []
    for _ in range(n):
        pick = rng.integers(0, uniq.size, uniq.size)
        idx = np.concatenate([members[g] for g in pick])
        value = auroc(labels[idx], scores[idx])
        if np.isfinite(value):
            values.append(value)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def temperature_fit(logits: NDArray[Any], labels: NDArray[Any]) -> float:
    """Temperature scaling (Guo et al. 2017): the T minimising the NLL of softmax(logits / T)."""
    lg = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    lb = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    losses = [float(torch.nn.functional.cross_entropy(lg / t, lb)) for t in grid]
    return float(grid[int(np.argmin(losses))])


def softmax_np(logits: NDArray[Any], temperature: float = 1.0) -> NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def youden_threshold(labels: NDArray[Any], probs: NDArray[Any]) -> float:
    """The probability cut-off maximising sensitivity + specificity - 1 (on validation data)."""
    labels = np.asarray(labels).astype(bool)
    best_t, best_j = 0.5, -1.0
    for t in np.unique(np.asarray(probs)):
        pred = probs >= t
        sens = (pred & labels).sum() / max(labels.sum(), 1)
        spec = (~pred & ~labels).sum() / max((~labels).sum(), 1)
        if sens + spec - 1 > best_j:
            best_t, best_j = float(t), float(sens + spec - 1)
    return best_t


def binary_report(labels: NDArray[Any], probs: NDArray[Any], threshold: float) -> dict[str, float]:
    labels = np.asarray(labels).astype(bool)
    pred = np.asarray(probs) >= threshold
    tp, tn = int((pred & labels).sum()), int((~pred & ~labels).sum())
    fp, fn = int((pred & ~labels).sum()), int((~pred & labels).sum())
    brier = float(np.mean((np.asarray(probs) - labels) ** 2))
    # expected calibration error with 10 equal-width bins
    bins = np.clip((np.asarray(probs) * 10).astype(int), 0, 9)
    ece = 0.0
    for b in range(10):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(float(np.mean(probs[m])) - float(labels[m].mean()))
    return {
        "auroc": auroc(labels, probs),
        "sensitivity": tp / max(tp + fn, 1),
        "specificity": tn / max(tn + fp, 1),
        "accuracy": (tp + tn) / max(labels.size, 1),
        "brier": brier,
        "ece_10bin": float(ece),
        "n": int(labels.size),
        "n_positive": int(labels.sum()),
    }


def state_dict_save(*, model: torch.nn.Module, path: Path) -> dict[str, Any]:
    """Save a CPU float32 state dict (tensors only: loadable with ``weights_only=True``)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "format": "torch state_dict",
    }


def today() -> str:
    return dt.date.today().isoformat()
