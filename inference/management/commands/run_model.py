"""``manage.py run_model MODEL -i INPUT -o OUTDIR``: run a registered imaging model on files.

Thin wrapper over ``inference.runtime.jobs.model_run_on_path`` (imported lazily: torch is
loaded only when the command actually runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdss.core.errors import CdssError
from inference.registry import model_list
from inference.runtime.jobs import model_run_on_path
from inference.runtime.lung_nodule import nodule_run_on_path


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # offline tool: needs no URLconf or database checks
    help = (
        "Run an imaging model. Segmentation: INPUT is a DICOM folder, NIfTI, NRRD or .npz (images + spacing); "
        "writes labels.nii.gz, findings.json (and seg.dcm for DICOM). Classification: INPUT is a PNG/JPEG "
        "file or folder, DICOM folder or .npz with 'images'; writes predictions.csv and heatmaps/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "model", help="model key, e.g. " + ", ".join(c.key for c in model_list(latest_only=True))
        )
        parser.add_argument("-i", "--input", required=True)
        parser.add_argument("-o", "--output", required=True)
        parser.add_argument("--model-version", default=None, dest="model_version")
        parser.add_argument("--no-tta", action="store_true", help="segmentation: skip test-time augmentation")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument(
            "--threads", type=int, default=None, help="torch CPU threads (default: torch's own)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["threads"]:
            import torch  # torch only when it runs: `help` and the parser stay torch-free

            torch.set_num_threads(options["threads"])
        try:
            if options["model"] == "brain_mri_seg":  # two series in: a case folder, not one volume
                from inference.runtime.brain import brain_run_on_path  # imports torch

                summary = brain_run_on_path(
                    input_path=Path(options["input"]),
                    out_dir=Path(options["output"]),
                    version=options["model_version"],
                    show_progress=not options["quiet"],
                    tta=not options["no_tta"],
                )
                self.stdout.write(json.dumps(summary, indent=2))
                return
            if options["model"] == "lung_nodule_ct":
                summary = nodule_run_on_path(
                    input_path=Path(options["input"]),
                    out_dir=Path(options["output"]),
                    version=options["model_version"],
                )
                self.stdout.write(json.dumps(summary, indent=2))
                return
            summary = model_run_on_path(
                model_key=options["model"],
                input_path=Path(options["input"]),
                out_dir=Path(options["output"]),
                version=options["model_version"],
                show_progress=not options["quiet"],
                tta=not options["no_tta"],
            )
        except CdssError as exc:
            raise CommandError(
                f"{exc.code}: {exc.message} {json.dumps(exc.detail, default=str) if exc.detail else ''}".strip()
            ) from exc
        self.stdout.write(json.dumps(summary, indent=2))
