"""GPU training of ``liver_ct_seg``: the run that made the registered weights, in three steps.

1. Here (needs the data; Django-free apart from the project's readers)::

       python scripts/gpu/liver_ct_seg.py export --data ../shared/data/ct-liver-ircadb \\
           --extra-liver ../shared/data/ct-totalsegmentator-example --out .gpu_data

   writes each case on the model grid (int16 HU, uint8 labels) to ``.gpu_data/`` (git-ignored:
   the data's licence forbids committing them).

2. On the GPU machine (torch, numpy, scipy and the MONAI wheel; no Django)::

       python3 scripts/gpu/liver_ct_seg.py train --cases .gpu_data --out "$OUT" --budget-s 330

   trains, in parallel on the one GPU, the leave-one-patient-out folds, the ablation without
   synthetic lesions, the fold that holds out the liver-only CT, and the final model on all cases,
   each with the same time budget; writes ``weights_<job>.pt``, ``results.json`` and ``train.log``.
   The machine has no MONAI: carry ``.gpu_data`` and a ``.whl`` folder (both git-ignored, e.g. in
   ``.git/info/exclude``) holding monai-1.6.1-py3-none-any.whl, and begin with
   ``python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/monai-*.whl &&
   export PYTHONPATH=/tmp/site``.

   ``--recipe hardneg_trial`` trains the opt-in recipe of ``liver_fit.HARDNEG_TRIAL`` (synthetic
   masses outside the liver as hard negatives, elastic deformation, HU curve, 224 px crops), e.g.
   ``train --recipe hardneg_trial --jobs lopo_1.1,lopo_1.7,ts_out,final --budget-s 430``, and is
   evaluated with ``import --out <scratch root>`` so that the registered artefact stays as it is
   (why it is not registered: docs/ARCHITECTURE.md, decisions).

3. Here again::

       python scripts/gpu/liver_ct_seg.py import --results <folder of step 2's files> \\
           --data ../shared/data/ct-liver-ircadb --extra-liver ../shared/data/ct-totalsegmentator-example

   evaluates every fold's weights with the full runtime pipeline (``segment_volume`` +
   ``labels_clean``) at the original resolution, installs the final weights as the new version and
   writes its card (``card`` re-scores the cached fold outputs and rewrites it, e.g. after a
   post-processing change, and ``--timing`` adds the CPU inference time). The recipe is ``inference/training/imaging/liver_fit.py``, shared with the CPU path
   (``manage.py train_model liver_ct_seg``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Both need only torch, numpy, scipy and MONAI, which the GPU machine has.
from inference.registry import ARTEFACT_ROOT  # noqa: E402  (needs the repository on sys.path)
from inference.training.imaging.liver_fit import (  # noqa: E402
    RECIPES,
    case_load,
    dice_np,
    lowres_predict,
    model_fit,
    state_dict_cpu,
)

ALL = ["3Dircadb1.1", "3Dircadb1.7", "ts-example"]
JOBS: list[dict[str, Any]] = [
    {"name": "lopo_1.1", "role": "lopo", "train": ["3Dircadb1.7", "ts-example"], "eval": "3Dircadb1.1"},
    {"name": "lopo_1.7", "role": "lopo", "train": ["3Dircadb1.1", "ts-example"], "eval": "3Dircadb1.7"},
    {
        "name": "lopo_1.7_nosyn",
        "role": "ablation",
        "train": ["3Dircadb1.1", "ts-example"],
        "eval": "3Dircadb1.7",
        "synthetic": False,
    },
    {
        "name": "ts_out",
        "role": "liver_only_check",
        "train": ["3Dircadb1.1", "3Dircadb1.7"],
        "eval": "ts-example",
    },
    {"name": "final", "role": "final", "train": ALL, "eval": None},
]


def _log_to(path: Path) -> Any:
    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        with path.open("a") as fh:
            fh.write(line + "\n")
        print(line, flush=True)

    return log


def export(args: argparse.Namespace) -> None:
    # The DICOM/NIfTI readers (pydicom, nibabel) exist here only, not on the GPU machine.
    from inference.training.imaging.liver import gpu_cases_export

    manifest = gpu_cases_export(
        data=Path(args.data), extra=Path(args.extra_liver) if args.extra_liver else None, out=Path(args.out)
    )
    print(json.dumps(manifest, indent=2))


def train_one(args: argparse.Namespace) -> None:
    job = next(j for j in JOBS if j["name"] == args.job)
    work = Path(args.work)
    log = _log_to(work / f"{job['name']}.log")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cases = {p.stem: case_load(p) for p in sorted(Path(args.cases).glob("*.npz"))}
    net, record = model_fit(
        cases=[cases[n] for n in job["train"]],
        seed=args.seed,
        device=device,
        log=log,
        iterations=args.iterations,
        budget_s=None if args.iterations else args.budget_s,
        batch=args.batch,
        crop=args.crop,
        synthetic=job.get("synthetic", True),
        settings=RECIPES[args.recipe],
        desc=job["name"],
    )
    out = Path(args.out)
    weights = f"weights_{job['name']}.pt"
    torch.save(state_dict_cpu(net), out / weights)
    result: dict[str, Any] = {**job, "weights": weights, "record": record}
    if job["eval"]:
        case = cases[job["eval"]]
        pred = lowres_predict(net, case, device=device)
        gt = case.labels
        s = np.ones((3, 3, 3), bool)
        result["lowres_eval"] = {
            "grid": "model grid (1.6 mm in-plane), identity TTA, no post-processing",
            "liver_dice": round(dice_np(pred > 0, gt > 0), 4),
            "lesion_dice": round(dice_np(pred == 2, gt == 2), 4)
            if case.lesion_labels and (gt == 2).any()
            else None,
            "lesion_components_predicted": int(ndimage.label(pred == 2, structure=s)[1]),
            "lesion_components_true": int(ndimage.label(gt == 2, structure=s)[1])
            if case.lesion_labels
            else None,
        }
    log(f"{job['name']} done {json.dumps({k: v for k, v in result.items() if k != 'train'})}")
    (work / f"{job['name']}.json").write_text(json.dumps(result, indent=2))


def train(args: argparse.Namespace) -> None:
    """Start every job as its own process on the one GPU, wait, gather results and logs."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    names = args.jobs.split(",") if args.jobs else [j["name"] for j in JOBS]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"device {device}, torch {torch.__version__}, jobs {names}", flush=True)
    procs = {}
    for name in names:
        cmd = [sys.executable, __file__, "train-one", "--job", name, "--cases", args.cases, "--out", str(out)]
        cmd += ["--work", str(work), "--seed", str(args.seed), "--budget-s", str(args.budget_s)]
        cmd += ["--recipe", args.recipe]
        for flag in ("iterations", "batch", "crop"):
            if getattr(args, flag):
                cmd += [f"--{flag}", str(getattr(args, flag))]
        env = {**os.environ, "OMP_NUM_THREADS": "2"}
        procs[name] = subprocess.Popen(cmd, env=env)
    codes = {name: p.wait() for name, p in procs.items()}
    jobs = [json.loads((work / f"{n}.json").read_text()) for n in names if (work / f"{n}.json").exists()]
    summary = {
        "device": device,
        "torch": torch.__version__,
        "wall_seconds": round(time.time() - t0, 1),
        "exit_codes": codes,
        "budget_s": args.budget_s,
        "recipe": args.recipe,
        "jobs": jobs,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    with (out / "train.log").open("w") as fh:
        for n in names:
            if (work / f"{n}.log").exists():
                fh.write((work / f"{n}.log").read_text())
    print(json.dumps({k: v for k, v in summary.items() if k != "jobs"}, indent=2), flush=True)
    for j in jobs:
        print(j["name"], j["record"]["iterations"], j.get("lowres_eval"), flush=True)


def command_line(budget_s: float) -> str:
    """The three steps as run for the registered weights (for the card)."""
    data = "--data ../shared/data/ct-liver-ircadb --extra-liver ../shared/data/ct-totalsegmentator-example"
    return (
        f"python scripts/gpu/liver_ct_seg.py export {data} --out .gpu_data && "
        f"python3 scripts/gpu/liver_ct_seg.py train --cases .gpu_data --out $OUT --budget-s {budget_s:g} "
        f"(on the GPU machine, carrying .gpu_data and the MONAI wheel) && "
        f"python scripts/gpu/liver_ct_seg.py import --results <train's files> {data} --budget-s {budget_s:g} && "
        f"python scripts/gpu/liver_ct_seg.py card {data} --timing"
    )


def results_import(args: argparse.Namespace) -> None:
    # Not on the GPU machine (pydicom, nibabel, tqdm): imported by the local steps only.
    from inference.training.imaging import common
    from inference.training.imaging.liver import gpu_results_import

    common.threads_set(args.threads)
    command = command_line(args.budget_s)
    card = gpu_results_import(
        results=Path(args.results),
        data=Path(args.data),
        extra=Path(args.extra_liver) if args.extra_liver else None,
        out_root=Path(args.out) if args.out else ARTEFACT_ROOT,
        command=command,
        robustness=not args.no_robustness,
    )
    print(json.dumps(card["metrics"], indent=2))


def card(args: argparse.Namespace) -> None:
    """Re-score the folds from their cached raw labels with the current post-processing, optionally
    time CPU inference, and rewrite the card (no training, no GPU)."""
    # Not on the GPU machine (pydicom, nibabel): imported by the local steps only.
    from inference.training.imaging.liver import card_refresh, cpu_timing_run, folds_rescore

    data = Path(args.data)
    folds_rescore(data=data, extra=Path(args.extra_liver) if args.extra_liver else None)
    if args.timing:
        print(json.dumps(cpu_timing_run(data=data, threads=args.threads)), flush=True)
    result = card_refresh(out_root=Path(args.out) if args.out else ARTEFACT_ROOT)
    print(json.dumps(result["metrics"]["leave_one_patient_out"], indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("export")
    p.add_argument("--data", required=True)
    p.add_argument("--extra-liver", default=None)
    p.add_argument("--out", default=".gpu_data")
    p.set_defaults(func=export)
    for name, func in (("train", train), ("train-one", train_one)):
        p = sub.add_parser(name)
        p.add_argument("--cases", default=".gpu_data")
        p.add_argument("--out", required=True)
        p.add_argument("--work", default="/tmp/liver_jobs")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--budget-s", type=float, default=330.0)
        p.add_argument(
            "--iterations", type=int, default=None, help="fixed iterations instead of the time budget"
        )
        p.add_argument("--batch", type=int, default=None)
        p.add_argument("--crop", type=int, default=None)
        p.add_argument(
            "--recipe",
            choices=["registered", "hardneg_trial"],
            default="registered",
            help="training settings from liver_fit.RECIPES (default: the registered recipe, TRAIN)",
        )
        if name == "train":
            p.add_argument("--jobs", default=None, help="comma-separated job names (default: all)")
        else:
            p.add_argument("--job", required=True)
        p.set_defaults(func=func)
    p = sub.add_parser("import")
    p.add_argument("--results", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--extra-liver", default=None)
    p.add_argument("--out", default=None, help="artefact root (default inference/artefacts/imaging)")
    p.add_argument(
        "--budget-s", type=float, default=330.0, help="the budget the train step used (for the card)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-robustness", action="store_true")
    p.set_defaults(func=results_import)
    p = sub.add_parser("card")
    p.add_argument("--data", required=True)
    p.add_argument("--extra-liver", default=None)
    p.add_argument("--out", default=None, help="artefact root (default inference/artefacts/imaging)")
    p.add_argument("--timing", action="store_true", help="also time CPU inference of the registered model")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=card)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
