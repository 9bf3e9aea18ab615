"""CT volumes for the liver speed tests and ``bench/bench_liver_speed.py``: the committed demo CT's
slices (which show the liver) between generated slices that show no organ, standing in for a CT
that covers more of the body than the liver. Made from committed files only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray

from inference.runtime.io import dicom_files, dicom_series_from_datasets

DEMO_CT = Path(__file__).resolve().parents[3] / "imaging" / "demo_data" / "ct-abdomen"


def demo_ct() -> tuple[NDArray[np.float32], tuple[float, float, float]]:
    """The demo CT (20 slices of 512 x 512) in HU, internal orientation, and its spacing (z, y, x) mm."""
    datasets = [pydicom.dcmread(p) for p in dicom_files(DEMO_CT)]
    for ds in datasets:
        ds.SeriesInstanceUID = "2.25.1"  # the source blanks its UIDs; the demo seeding sets them
    hu, spacing = dicom_series_from_datasets(datasets).internal()
    return hu.astype(np.float32), spacing


def _beyond_organ(shape: tuple[int, int], *, seed: int) -> NDArray[np.float32]:
    """A slice in which the network sees no organ: air (noise only). Generated soft-tissue and
    lung-like slices were not used: the network labels liver in them, which a real CT's slices
    beyond the liver do not show it doing to that degree, and no committed CT has such slices."""
    rng = np.random.default_rng(seed)
    return (-1000.0 + rng.normal(0, 12, shape)).astype(np.float32)


def ct_with_organ_slab(
    *, below: int, organ: int, above: int, demo_range: tuple[int, int] = (0, 20), stride_yx: int = 1
) -> NDArray[np.float32]:
    """(below + organ + above, y, x) HU: ``organ`` slices linearly interpolated in z from the demo
    CT's slices ``demo_range`` (the liver), with ``below`` and ``above`` slices without any organ
    (``_beyond_organ``); every ``stride_yx``-th row and column."""
    hu, _ = demo_ct()
    part = hu[demo_range[0] : demo_range[1], ::stride_yx, ::stride_yx]
    pos = np.linspace(0, part.shape[0] - 1, organ)
    k = np.floor(pos).astype(int)
    k1 = np.minimum(k + 1, part.shape[0] - 1)
    t = (pos - k).astype(np.float32)[:, None, None]
    slab = (1 - t) * part[k] + t * part[k1]
    low = [_beyond_organ(slab.shape[1:], seed=n) for n in range(below)]
    high = [_beyond_organ(slab.shape[1:], seed=1000 + n) for n in range(above)]
    return np.concatenate([np.array(low).reshape(-1, *slab.shape[1:]), slab,
                           np.array(high).reshape(-1, *slab.shape[1:])]).astype(np.float32)
