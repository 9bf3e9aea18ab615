"""Benchmark: the liver model's CT analysis, the reference path against the fast path, side by side.

Run: ``.venv/bin/python bench/bench_liver_speed.py [--below 45 --organ 60 --above 45] [--threads 2] [--demo]
[--skip-everywhere] [--runtimes]``.

Two CTs of 150 slices of 512 x 512 (``tests/inference/data/liver_speed.py``): the committed demo
CT's 20 slices linearly interpolated in z to all 150 (the liver in every slice: nothing to skip,
the worst case), and to ``--organ`` slices between ``--below`` and ``--above`` generated slices in
which the network sees no organ (air), standing in for a scan that covers more than the liver. Both paths run on it in the same process, one after the other, in the
stages of the worker's liver step:

  fetch    decode the series' DICOM bytes (held in memory: no network) into the HU volume
  model    the network's passes and the return to the slice grid
  post     labels_clean, lesion candidates, the lesion rule, findings
  seg      the DICOM SEG built and written to bytes (no PACS)
  report   the findings serialised as the step's JSON result

Old: the network as loaded before the group-norm rewrite, every slice through every TTA pass
(``segment_volume``). New: ``model_load`` (group norms) and ``segment_volume_organ`` (float32 unless
``CDSS_INFERENCE_BF16`` asks for bfloat16 convolutions: ``predictor.bf16_autocast``; the
precision used is printed with each comparison; with bfloat16 or "mixed" the float32 fast path
also runs, and the new labels are compared with its). Bare forward:
the identity forward of one batch, times the slice-passes the old path runs. Prints each stage,
wall / bare forward for both paths, the floor (the new network's bare forward over the slices
showing the organ times the TTA passes, plus the other stages), the ratio new / old, and the Dice of the final labels
(organ = liver + lesion, and lesion) between them (the fast path must keep >= 0.995). ``cpu``: the
process's CPU time over all stages (both threads), a figure a busy machine inflates less than the wall.
``--demo`` also compares the paths on the demo CT itself (its liver is in every slice).
The new path's network runs in the runtime ``CDSS_INFERENCE_RUNTIME`` gives it (torch or ONNX
Runtime, ``predictor.LoadedModel.network``), printed with each comparison; ``--runtimes`` also
runs the float32 fast path in torch and in ONNX Runtime, one after the other, stage by stage.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.test")


def _old_model() -> Any:
    """The liver model as loaded without the group-norm rewrite (the reference's network)."""
    from inference.registry import model_card_get
    from inference.runtime.fusion_bn import batchnorm_folded
    from inference.runtime.predictor import LoadedModel, network_load, probe_input, runtime_device
    from inference.runtime.upsample_shuffle import transposed_convs_as_shuffles

    card = model_card_get(key="liver_ct_seg")
    probe = probe_input(card)
    net = transposed_convs_as_shuffles(batchnorm_folded(network_load(card=card), probe=probe), probe=probe)
    net.requires_grad_(False)
    return LoadedModel(card=card, net=net.to(runtime_device()), device=runtime_device())


def _stages(
    *, model: Any, segment: Callable[..., Any], blobs: list[bytes], net: Any = None
) -> tuple[dict[str, float], np.ndarray, dict[str, Any]]:
    import pydicom

    from inference.runtime.dicom_seg import seg_dicom_from_volume
    from inference.runtime.io import dicom_series_from_datasets
    from inference.runtime.postprocessing import (
        findings_compute,
        labels_clean,
        lesion_candidates,
        lesions_decide,
    )

    t: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    volume = dicom_series_from_datasets([pydicom.dcmread(io.BytesIO(b)) for b in blobs])
    hu, spacing = volume.internal()
    t["fetch"] = time.perf_counter() - t0
    post = model.card.data["postprocessing"]
    tta = list(post["tta"])
    t0 = time.perf_counter()
    raw, prob, votes = segment(
        net=model.net if net is None else net, device=model.device, volume_hu=hu, spacing_mm=spacing,
        preprocessing=model.card.data["preprocessing"], tta=tta, batch=int(post.get("batch", 8)),
    )
    t["model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = labels_clean(raw, spacing=spacing, settings=post)
    candidates = lesion_candidates(labels=labels, volume_hu=hu, spacing=spacing, lesion_prob_u8=prob,
                                   lesion_votes=votes, n_tta=len(tta))
    labels = lesions_decide(labels=labels, candidates=candidates, rule=post.get("lesion_rule"))
    findings = findings_compute(labels=labels, volume_hu=hu, spacing=spacing, lesion_prob_u8=prob,
                                lesion_votes=votes, n_tta=len(tta), candidates=candidates)
    findings["model"] = model.provenance()
    t["post"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seg = seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=findings["model"])
    out = io.BytesIO()
    seg.save_as(out, enforce_file_format=True)
    t["seg"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    json.dumps({"findings": findings}, default=str)
    t["report"] = time.perf_counter() - t0
    t["wall"] = sum(t.values())
    t["cpu"] = time.process_time() - cpu0
    return t, labels, findings


def bare_forward(net: Any, *, channels: int, size: int, batch: int, slice_passes: int) -> float:
    """Seconds for ``slice_passes`` slices through ``net``'s bare identity forward: the best of two
    timed batches of ``batch`` random (channels, size, size) inputs after one warm-up, scaled."""
    import torch

    x = torch.rand((batch, channels, size, size), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.inference_mode():
        net(x)
        for _ in range(2):
            t0 = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - t0)
    return best * slice_passes / batch


def _blobs(hu: np.ndarray, spacing: tuple[float, float, float]) -> list[bytes]:
    import pydicom

    from tests.inference.data.synthetic import ct_series_datasets

    out = []
    for ds in ct_series_datasets(np.rint(hu).astype(np.int16), spacing=spacing):
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def compare(hu: np.ndarray, spacing: tuple[float, float, float], title: str, *, runtimes: bool = False) -> None:
    from inference.runtime.liver import segment_volume, segment_volume_organ
    from inference.runtime.postprocessing import dice
    from inference.runtime.predictor import model_load, precision_configured, runtime_of

    blobs = _blobs(hu, spacing)
    old_model, new_model = _old_model(), model_load(key="liver_ct_seg")
    n_tta = len(new_model.card.data["postprocessing"]["tta"])
    old_t, old_labels, old_f = _stages(model=old_model, segment=segment_volume, blobs=blobs)
    precision = precision_configured(new_model.device)
    fast = functools.partial(segment_volume_organ, precision=precision)
    new_net = new_model.network(precision=precision)
    new_t, new_labels, new_f = _stages(model=new_model, segment=fast, blobs=blobs, net=new_net)
    size = int(old_model.card.data["preprocessing"]["size"])
    bare = bare_forward(old_model.net, channels=3, size=size, batch=8, slice_passes=hu.shape[0] * n_tta)
    print(f"\n{title}: {hu.shape[0]} slices of {hu.shape[1]} x {hu.shape[2]}, spacing {spacing} mm")
    print(f"old: reference path, float32, {runtime_of(old_model.net)}; new: fast path, {precision}, "
          f"{runtime_of(new_net)}")
    print(f"{'stage':<8}{'old s':>10}{'new s':>10}{'new/old':>9}")
    for k in ("fetch", "model", "post", "seg", "report", "wall", "cpu"):
        print(f"{k:<8}{old_t[k]:>10.2f}{new_t[k]:>10.2f}{new_t[k] / max(old_t[k], 1e-9):>9.3f}")
    print(f"bare forward (old network, {hu.shape[0] * n_tta} slice-passes): {bare:.2f} s")
    print(f"wall / bare forward: old {old_t['wall'] / bare:.3f}  new {new_t['wall'] / bare:.3f}")
    # What no fast path can go below while it keeps the card's TTA on every slice showing the organ
    # (the reference's labels depend on it there): those slice-passes through the new network's
    # bare forward, plus the stages around the model as measured.
    organ_slices = int((old_labels > 0).any(axis=(1, 2)).sum())
    floor_model = bare_forward(new_net, channels=3, size=size, batch=8, slice_passes=organ_slices * n_tta)
    floor = floor_model + sum(new_t[k] for k in ("fetch", "post", "seg", "report"))
    print(f"floor: {organ_slices} organ slices x {n_tta} passes, bare forward of the new network {floor_model:.2f} s; "
          f"with the other stages {floor:.2f} s; new wall / floor {new_t['wall'] / floor:.3f}")
    print(f"Dice new vs old: organ {dice(new_labels > 0, old_labels > 0):.5f}  "
          f"lesion {dice(new_labels == 2, old_labels == 2):.5f}  (target >= 0.995)")
    print(f"lesions old {old_f['lesion_count']} new {new_f['lesion_count']}; liver mL old "
          f"{old_f['liver'].get('volume', {}).get('value')} new {new_f['liver'].get('volume', {}).get('value')}")
    if runtimes:
        _runtimes_side_by_side(model=new_model, blobs=blobs, old_labels=old_labels, old_f=old_f)
    if precision != "float32":
        f32_t, f32_labels, f32_f = _stages(
            model=new_model, segment=functools.partial(segment_volume_organ, precision="float32"), blobs=blobs,
            net=new_model.network(precision="float32"),
        )
        print(f"fast path float32: wall {f32_t['wall']:.2f} s, cpu {f32_t['cpu']:.2f} s; new ({precision}) / "
              f"float32 wall {new_t['wall'] / max(f32_t['wall'], 1e-9):.3f}")
        print(f"Dice new vs fast float32: organ {dice(new_labels > 0, f32_labels > 0):.5f}  lesion "
              f"{dice(new_labels == 2, f32_labels == 2):.5f}; lesion labels identical "
              f"{bool(np.array_equal(new_labels == 2, f32_labels == 2))}; lesions float32 {f32_f['lesion_count']}")


def _runtimes_side_by_side(*, model: Any, blobs: list[bytes], old_labels: np.ndarray, old_f: dict[str, Any]) -> None:
    """The float32 fast path in torch and in ONNX Runtime, one after the other, stage by stage."""
    from inference.runtime.liver import segment_volume_organ
    from inference.runtime.postprocessing import dice
    from inference.runtime.predictor import runtime_of

    if model.exported is None:
        print("runtimes: no ONNX Runtime network (CDSS_INFERENCE_RUNTIME=torch, or it was not verified)")
        return
    fast = functools.partial(segment_volume_organ, precision="float32")
    torch_t, torch_labels, torch_f = _stages(model=model, segment=fast, blobs=blobs, net=model.net)
    ort_t, ort_labels, ort_f = _stages(model=model, segment=fast, blobs=blobs, net=model.exported)
    print(f"fast path float32, torch ({runtime_of(model.net)}) against ONNX Runtime ({runtime_of(model.exported)})")
    print(f"{'stage':<8}{'torch s':>10}{'ort s':>10}{'ort/torch':>11}")
    for k in ("fetch", "model", "post", "seg", "report", "wall", "cpu"):
        print(f"{k:<8}{torch_t[k]:>10.2f}{ort_t[k]:>10.2f}{ort_t[k] / max(torch_t[k], 1e-9):>11.3f}")
    for name, labels, f in (("torch", torch_labels, torch_f), ("ort", ort_labels, ort_f)):
        print(f"Dice {name} vs old: organ {dice(labels > 0, old_labels > 0):.5f}  lesion "
              f"{dice(labels == 2, old_labels == 2):.5f}; lesions {f['lesion_count']} (old {old_f['lesion_count']})")
    print(f"labels ort == torch: {bool(np.array_equal(ort_labels, torch_labels))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--below", type=int, default=45)
    parser.add_argument("--organ", type=int, default=60)
    parser.add_argument("--above", type=int, default=45)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--demo", action="store_true", help="also compare on the demo CT itself")
    parser.add_argument("--skip-everywhere", action="store_true", help="leave out the liver-in-every-slice CT")
    parser.add_argument(
        "--runtimes", action="store_true", help="also the float32 fast path in torch and in ONNX Runtime, side by side"
    )
    args = parser.parse_args()
    import django

    django.setup()
    import torch

    torch.set_num_threads(args.threads)
    from tests.inference.data.liver_speed import ct_with_organ_slab, demo_ct

    _, spacing = demo_ct()
    from inference.runtime.predictor import runtime_configured

    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load average {os.getloadavg()}, "
          f"CDSS_INFERENCE_RUNTIME {runtime_configured()}")
    if args.demo:
        hu, spacing = demo_ct()
        compare(hu, spacing, "demo CT", runtimes=args.runtimes)
    if not args.skip_everywhere:
        total = args.below + args.organ + args.above
        compare(ct_with_organ_slab(below=0, organ=total, above=0), spacing, "liver in every slice (worst case)",
                runtimes=args.runtimes)
    hu = ct_with_organ_slab(below=args.below, organ=args.organ, above=args.above)
    compare(hu, spacing, f"liver in {args.organ} of {hu.shape[0]} slices", runtimes=args.runtimes)


if __name__ == "__main__":
    main()
