"""Benchmark: the brain and lung-nodule models' analyses on realistic volumes, stage by stage, each
against its bare baseline in the same run.

Run: ``.venv/bin/python bench/bench_models_speed.py [--threads 2] [--only brain|nodule]``.

brain_mri_seg: a FLAIR + T1c pair of 140 x 220 x 190 voxels of 1 mm (a BraTS-sized case: the
test case of ``tests/inference/brain_fixture.py`` resampled to 1 mm), through the stages of
``brain_segment_with_model``:

  prepare  the T1c resampled onto the FLAIR's grid, the head mask, the z-scores
  model    the network's passes (``segment_slices``: head slices only, every TTA pass)
  post     small components dropped, volumes, location
  report   the findings serialised as the step's JSON result

Baseline: the bare forward, the network's identity forward of one batch times the slice-passes the
model stage ran. Ratio: wall / bare forward.

lung_nodule_ct (no network: a multi-scale blob detector): a generated chest CT of 150 slices of
512 x 512 (2 mm, 0.7 mm; body, two lungs, vessels, one 10 mm nodule), through the worker's stages:

  fetch    decode the series' DICOM bytes (held in memory: no network) into the HU volume
  detect   ``run_lung_nodule`` as the worker calls it, in its stages: ``lung`` (lung mask),
           ``candidates`` (openings at every scale, grown back), ``decide`` (the decision rule,
           labels, measurements), ``centres`` (nodule centres in patient coordinates)
  seg      the DICOM SEG built and written to bytes (no PACS)
  report   the findings serialised as the step's JSON result

The detect stages run twice in the same process: the detector as it is, and its straightforward
reference (``reference=True``: whole-volume distance transforms and passes), with the ratio and
whether both found the same labels and findings. Baseline: one Gaussian smoothing (sigma 1 voxel)
of the whole volume, the elementary pass the detector repeats per scale. Ratio: wall / baseline.
``cpu``: the process's CPU time over all stages.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.test")


def _print(title: str, t: dict[str, float], baseline: float, baseline_name: str) -> None:
    print(f"\n{title}")
    print(f"{'stage':<9}{'s':>9}")
    for k, v in t.items():
        print(f"{k:<9}{v:>9.2f}")
    print(
        f"baseline ({baseline_name}): {baseline:.2f} s   wall / baseline: {t['wall'] / max(baseline, 1e-9):.3f}"
    )


def _brain_case() -> tuple[Any, Any]:
    """FLAIR and T1c ``Volume``s of the test case resampled to 1 mm (RAS voxel order, as NIfTI holds them)."""
    # Here, not at the top: the environment is set and Django set up first (see main).
    from scipy import ndimage

    from inference.runtime.io import Volume
    from tests.inference.brain_fixture import SPACING_ZYX, synthetic_case

    case = synthetic_case(0)
    factors = tuple(s / 1.0 for s in SPACING_ZYX)

    def ras(a: np.ndarray) -> np.ndarray:
        fine = ndimage.zoom(a, factors, order=1).astype(np.float32)
        return np.ascontiguousarray(fine.transpose(2, 1, 0)[::-1, ::-1, :])

    flair, t1c = ras(case["flair"]), ras(case["t1c"])
    nx, ny, _ = flair.shape
    affine = np.array(
        [[1.0, 0, 0, -(nx - 1) / 2], [0, 1.0, 0, -(ny - 1) / 2], [0, 0, 1.0, 10.0], [0, 0, 0, 1]]
    )
    return Volume(data_ijk=flair, affine_ras=affine, kind="nifti"), Volume(
        data_ijk=t1c, affine_ras=affine, kind="nifti"
    )


class _Counting:
    """Wraps a network, counting the slices it is given."""

    def __init__(self, net: Any) -> None:
        self.net, self.slices = net, 0

    def __call__(self, x: Any) -> Any:
        self.slices += int(x.shape[0])
        return self.net(x)

    def eval(self) -> _Counting:
        self.net.eval()
        return self


def bench_brain() -> None:
    # Here, not at the top: the environment is set and Django set up first (see main).
    from bench_liver_speed import bare_forward

    from inference.runtime.brain import (
        findings_of,
        inputs_prepare,
        labels_clean,
        location_of,
        segment_slices,
        t1c_on_flair_grid,
    )
    from inference.runtime.io import Volume
    from inference.runtime.predictor import model_load

    model = model_load(key="brain_mri_seg")
    post, pre = model.card.data["postprocessing"], model.card.data["preprocessing"]
    tta = list(post.get("tta", ["identity"]))
    flair, t1c = _brain_case()
    t: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    flair_zyx, spacing = flair.internal()
    t1c_on = Volume(
        data_ijk=t1c_on_flair_grid(flair=flair, t1c=t1c), affine_ras=flair.affine_ras, kind=flair.kind
    )
    x, mask = inputs_prepare(flair_zyx, t1c_on.internal()[0])
    t["prepare"] = time.perf_counter() - t0
    net = _Counting(model.net)
    t0 = time.perf_counter()
    raw = segment_slices(
        net=net,  # type: ignore[arg-type]
        device=model.device,
        x_zcyx=x,
        mask=mask,
        spacing_yx=(spacing[1], spacing[2]),
        preprocessing=pre,
        tta=tta,
        batch=int(post.get("batch", 16)),
    )
    t["model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    voxel_ml = float(np.prod(spacing)) / 1000.0
    labels = labels_clean(raw, voxel_ml=voxel_ml, min_component_ml=float(post.get("min_component_ml", 0.0)))
    findings = findings_of(labels_zyx=labels, spacing_mm=spacing)
    findings["location"] = location_of(
        tumour_ijk=flair.from_internal(labels > 0).astype(bool),
        foreground_ijk=flair.from_internal(mask).astype(bool),
        affine_ras=flair.affine_ras,
    )
    t["post"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    json.dumps({"findings": findings}, default=str)
    t["report"] = time.perf_counter() - t0
    t["wall"] = sum(t.values())
    t["cpu"] = time.process_time() - cpu0
    bare = bare_forward(
        model.net,
        channels=x.shape[1],
        size=int(pre["size"]),
        batch=int(post.get("batch", 16)),
        slice_passes=net.slices,
    )
    _print(
        f"brain_mri_seg: FLAIR + T1c {flair_zyx.shape} (z, y, x) at {spacing} mm, {net.slices} slice-passes "
        f"({len(tta)} TTA), whole tumour {findings['regions']['whole_tumour']['volume']['value']} mL",
        t,
        bare,
        f"bare forward, {net.slices} slice-passes",
    )


def chest_ct(
    nz: int = 150, n: int = 512, spacing: tuple[float, float, float] = (2.0, 0.7, 0.7)
) -> np.ndarray:
    """A generated chest CT (z, y, x) in HU, internal order (low x: the patient's right): body
    ellipse, two lungs narrowing towards the apex, a vessel tree stand-in, one 10 mm solid nodule."""
    rng = np.random.default_rng(0)
    dz, dy, dx = spacing
    y = (np.arange(n) - n / 2) * dy
    x = (np.arange(n) - n / 2) * dx
    yy, xx = np.meshgrid(y, x, indexing="ij")
    hu = np.empty((nz, n, n), dtype=np.int16)
    body = (yy / 120) ** 2 + (xx / 165) ** 2 <= 1
    nodule_c = (nz // 2 * dz, -20.0, -70.0)
    for k in range(nz):
        z = k * dz
        scale = 0.35 + 0.65 * min(1.0, (nz * dz - z) / (0.6 * nz * dz))  # lungs narrow towards the apex
        s = np.where(body, 35.0, -1000.0)
        for side in (-1, 1):
            lung = ((yy + 5) / (85 * scale)) ** 2 + ((xx - side * 75) / (55 * scale)) ** 2 <= 1
            s[lung] = -850.0
            for j in range(6):  # vessels: short in-plane segments, a different place every few slices
                a = (j * 1.1 + k // 6) % 3.14
                d = np.abs((yy - 20 * np.sin(j)) * np.cos(a) - (xx - side * (60 + 5 * j)) * np.sin(a))
                s[(d <= 1.5) & lung & (np.abs(xx - side * 75) < 40)] = 40.0
        r2 = (z - nodule_c[0]) ** 2 + (yy - nodule_c[1]) ** 2 + (xx - nodule_c[2]) ** 2
        s[r2 <= 25.0] = 40.0
        hu[k] = np.rint(s + rng.normal(0, 12, (n, n))).astype(np.int16)
    return hu


def bench_nodule() -> None:
    # Here, not at the top: the environment is set and Django set up first (see main).
    import pydicom
    from scipy import ndimage

    from inference.runtime.dicom_seg import seg_dicom_nodules_from_volume
    from inference.runtime.io import dicom_series_from_datasets
    from inference.runtime.lung_nodule import run_lung_nodule
    from tests.inference.data.synthetic import ct_series_datasets

    spacing = (2.0, 0.7, 0.7)
    hu = chest_ct(spacing=spacing)
    blobs = []
    for ds in ct_series_datasets(hu, spacing=spacing):
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        blobs.append(buf.getvalue())
    t: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    volume = dicom_series_from_datasets([pydicom.dcmread(io.BytesIO(b)) for b in blobs])
    volume_hu, sp = volume.internal()
    t["fetch"] = time.perf_counter() - t0
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    labels, findings = run_lung_nodule(volume_hu, sp, volume=volume, seconds=stages)
    t["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seg = seg_dicom_nodules_from_volume(labels_zyx=labels, volume=volume, model=findings["model"])
    out = io.BytesIO()
    seg.save_as(out, enforce_file_format=True)
    t["seg"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    json.dumps({"findings": findings}, default=str)
    t["report"] = time.perf_counter() - t0
    t["wall"] = sum(t.values())
    t["cpu"] = time.process_time() - cpu0
    t0 = time.perf_counter()
    ndimage.gaussian_filter(volume_hu.astype(np.float32), 1.0)
    bare = time.perf_counter() - t0
    _print(
        f"lung_nodule_ct: chest CT {volume_hu.shape} (z, y, x) at {sp} mm, {findings['nodule_count']} nodule(s) found",
        t,
        bare,
        "one Gaussian smoothing of the volume",
    )

    ref_stages: dict[str, float] = {}
    t0 = time.perf_counter()
    ref_labels, ref_findings = run_lung_nodule(
        volume_hu, sp, volume=volume, reference=True, seconds=ref_stages
    )
    ref_detect = time.perf_counter() - t0
    print(f"\n{'detect':<12}{'new s':>9}{'reference s':>13}{'ref / new':>11}")
    for k in stages:
        print(
            f"  {k:<10}{stages[k]:>9.2f}{ref_stages[k]:>13.2f}{ref_stages[k] / max(stages[k], 1e-9):>11.1f}"
        )
    print(f"{'total':<12}{t['detect']:>9.2f}{ref_detect:>13.2f}{ref_detect / max(t['detect'], 1e-9):>11.1f}")
    same = bool(np.array_equal(labels, ref_labels)) and findings["nodules"] == ref_findings["nodules"]
    print(f"same labels and nodules (centres, diameters, scores) as the reference: {'yes' if same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["brain", "nodule"])
    args = parser.parse_args()
    # Django is set up when the bench runs, after its arguments are read.
    import django

    django.setup()
    # torch loads when the bench runs, so its thread count is set first.
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load average {os.getloadavg()}")
    if args.only in (None, "brain"):
        bench_brain()
    if args.only in (None, "nodule"):
        bench_nodule()


if __name__ == "__main__":
    main()
