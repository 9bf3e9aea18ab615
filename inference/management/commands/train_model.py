"""``manage.py train_model MODEL --data PATH``: reproduce an imaging model's artefact.

Thin wrapper: parses arguments and calls the training entry point of ``inference.runtime``
(imported lazily, so that listing commands never imports torch).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdss.core.errors import CdssError

MODELS = ("cxr_pneumonia", "liver_ct_seg", "brain_mri_seg", "lung_nodule_ct")


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # offline tool: needs no URLconf or database checks
    help = "Train an imaging model (cxr_pneumonia, liver_ct_seg) with a fixed seed and write its artefact and card."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", choices=MODELS)
        parser.add_argument(
            "--data", required=True, help="dataset folder (see the model card for its layout)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--stage",
            choices=["all", "cv", "final", "card"],
            default="all",
            help="cv: cross-validation only; final: train the registered model; all: both; "
            "card (liver_ct_seg): rewrite the card from var/train results",
        )
        parser.add_argument(
            "--colour", choices=["grayscale", "pseudocolour"], default=None, help="cxr_pneumonia input mode"
        )
        parser.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="override the default number of epochs (liver_ct_seg: iterations)",
        )
        parser.add_argument(
            "--fold", type=int, default=None, help="liver_ct_seg: run one leave-one-patient-out fold"
        )
        parser.add_argument("--out", default=None, help="artefact root (default inference/artefacts/imaging)")
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Training imports torch: each trainer is loaded when it runs, so `help` and the parser stay light.
        from inference.training.imaging import common

        common.threads_set(options["threads"])
        data = Path(options["data"])
        if not data.exists():
            raise CommandError(f"--data {data} does not exist")
        command = "python manage.py train_model " + " ".join(
            shlex.quote(a)
            for a in [options["model"], "--data", str(data), "--seed", str(options["seed"])]
            + (["--colour", options["colour"]] if options["colour"] else [])
            + (["--epochs", str(options["epochs"])] if options["epochs"] else [])
        )
        out = Path(options["out"]) if options["out"] else None
        try:
            if options["model"] == "cxr_pneumonia":
                from inference.training.imaging import cxr  # torch, as above

                result = cxr.train(
                    data=data,
                    seed=options["seed"],
                    stage=options["stage"],
                    colour=options["colour"],
                    out_root=out,
                    command=command,
                    epochs=options["epochs"],
                )
            elif options["model"] == "brain_mri_seg":
                from inference.training.imaging import brain  # torch, as above

                result = brain.train(
                    data=data,
                    seed=options["seed"],
                    stage=options["stage"],
                    out_root=out,
                    command=command,
                    iterations=options["epochs"],
                )
            elif options["model"] == "lung_nodule_ct":
                from inference.training.imaging import lung_nodule  # torch, as above

                result = lung_nodule.train(data=data, seed=options["seed"], out_root=out, command=command)
            else:
                from inference.training.imaging import liver  # torch, as above

                result = liver.train(
                    data=data,
                    seed=options["seed"],
                    stage=options["stage"],
                    out_root=out,
                    command=command,
                    epochs=options["epochs"],
                    fold=options["fold"],
                )
        except CdssError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        summary = {k: (v.get("metrics", v) if isinstance(v, dict) else v) for k, v in result.items()}
        self.stdout.write(json.dumps(summary, indent=2, default=str))
