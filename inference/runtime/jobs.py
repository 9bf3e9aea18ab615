"""File-to-file model runs behind ``manage.py run_model`` (TotalSegmentator-style CLI).

Classification (``cxr_pneumonia``): INPUT is a PNG/JPEG file or folder, a folder of DICOM images,
or an .npz with an ``images`` array; OUTDIR gets ``predictions.csv`` (one row per image, input
order) and ``heatmaps/NNNN_<name>.png`` (Grad-CAM overlays), plus ``run.json``.

Segmentation (``liver_ct_seg``): INPUT is a DICOM series folder, a NIfTI or NRRD file, or an .npz
with ``images`` (z, y, x) in HU and ``spacing``; OUTDIR gets ``labels.nii.gz`` (input grid and
affine; 0 background, 1 liver, 2 lesion), ``findings.json`` and, for DICOM input, ``seg.dcm``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from inference.registry import ModelInputInvalid, model_card_get
from inference.runtime.dicom_seg import seg_dicom_from_volume
from inference.runtime.io import images_read, labels_nifti_write, seg_file_write, volume_read


def _safe_stem(name: str) -> str:
    stem = Path(name).stem if "[" not in name else name.replace("[", "_").replace("]", "")
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:80]


def classification_run(
    *, model_key: str, version: str | None, input_path: Path, out_dir: Path, show_progress: bool
) -> dict[str, Any]:
    from inference.runtime.cxr import (  # lazy: torch loads on the first classification
        heatmap_overlay,
        run_cxr,
    )

    named = images_read(input_path)
    bar = tqdm(total=len(named), desc=f"{model_key}", unit="image", disable=not show_progress)
    results = run_cxr(model_key, [im for _, im in named], version=version, progress=bar.update)
    bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    heat_dir = out_dir / "heatmaps"
    heat_dir.mkdir(exist_ok=True)
    classes = list(results[0]["probabilities"])
    positive = results[0]["positive_class"]
    with (out_dir / "predictions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "index",
                "file",
                *[f"probability_{c}" for c in classes],
                f"calibrated_probability_{positive}",
                "threshold",
                "label",
                "heatmap",
            ]
        )
        for i, ((name, image), r) in enumerate(zip(named, results, strict=True)):
            heat_name = f"heatmaps/{i:04d}_{_safe_stem(name)}.png"
            Image.fromarray(heatmap_overlay(image, r["heatmap"])).save(out_dir / heat_name)
            writer.writerow(
                [
                    i,
                    name,
                    *[f"{r['probabilities'][c]:.6f}" for c in classes],
                    f"{r['calibrated_probability']:.6f}",
                    f"{r['threshold']:.6f}",
                    r["label"],
                    heat_name,
                ]
            )
    summary = {
        "model": results[0]["model"],
        "images": len(results),
        "positive": sum(bool(r["positive"]) for r in results),
    }
    (out_dir / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def segmentation_run(
    *, model_key: str, version: str | None, input_path: Path, out_dir: Path, show_progress: bool, tta: bool
) -> dict[str, Any]:
    from inference.runtime.liver import run_liver_seg  # lazy: torch loads on the first segmentation

    volume = volume_read(input_path)
    hu, spacing = volume.internal()
    bar = tqdm(total=hu.shape[0], desc=f"{model_key}", unit="slice", disable=not show_progress)
    labels, findings = run_liver_seg(
        hu, spacing, model_key=model_key, version=version, tta=tta, progress=bar.update
    )
    bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_nifti_write(volume=volume, labels_zyx=labels, path=out_dir / "labels.nii.gz")
    outputs = ["labels.nii.gz", "findings.json"]
    seg_file_write(
        volume=volume,
        build=lambda: seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=findings["model"]),
        out_dir=out_dir,
        findings=findings,
        outputs=outputs,
    )
    findings["input"]["kind"] = volume.kind
    (out_dir / "findings.json").write_text(json.dumps(findings, indent=2) + "\n")
    return {
        "model": findings["model"],
        "outputs": outputs,
        "lesion_count": findings["lesion_count"],
        "liver_volume_ml": findings["liver"]["volume"]["value"],
    }


def model_run_on_path(
    *,
    model_key: str,
    input_path: Path,
    out_dir: Path,
    version: str | None = None,
    show_progress: bool = True,
    tta: bool = True,
) -> dict[str, Any]:
    """Run ``model_key`` on a file or folder and write its outputs to ``out_dir``."""
    card = model_card_get(key=model_key, version=version)
    if not input_path.exists():
        raise ModelInputInvalid("input does not exist", detail={"input": str(input_path)})
    if card.task == "classification":
        return classification_run(
            model_key=model_key,
            version=card.version,
            input_path=input_path,
            out_dir=out_dir,
            show_progress=show_progress,
        )
    return segmentation_run(
        model_key=model_key,
        version=card.version,
        input_path=input_path,
        out_dir=out_dir,
        show_progress=show_progress,
        tta=tta,
    )
