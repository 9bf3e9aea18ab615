"""``manage.py train_risk_model MODEL``: train a learned risk model and write its artefact.

Thin wrapper: parsing and printing only; the work is ``training.risk_model_train_and_save``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.risk.learned.artefact import DEFAULT_ARTEFACT_ROOT
from inference.risk.learned.datasets import DEFAULT_DATA_ROOT, MODEL_KEYS, data_path_resolve, task_get
from inference.risk.learned.errors import LearnedRiskError
from inference.training.risk.cards import payload_summary
from inference.training.risk.train import DEFAULT_SEED, risk_model_train_and_save


def created_with_command(
    *, key: str, data: str | None, seed: int, out: str | None, version: str | None
) -> str:
    """The command line that reproduces one model's artefact (recorded in its manifest)."""
    parts = ["python manage.py train_risk_model", key]
    if data is not None:
        parts += ["--data", data]
    parts += ["--seed", str(seed)]
    if out is not None:
        parts += ["--out", out]
    if version is not None and version != task_get(key).version:
        parts += ["--model-version", version]
    return " ".join(parts)


class Command(BaseCommand):
    # offline ML tooling: it touches neither the database nor URLs, so unrelated system-check
    # failures of the web stack must not block it (run ``manage.py check`` for those)
    requires_system_checks: list[str] = []
    help = (
        "Train a learned risk model (hcv_binary, hcv_stage, ilpd, pbc, or all) on the shared "
        "cohorts and write model.json, MODEL_CARD.md and manifest.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", choices=[*MODEL_KEYS, "all"])
        parser.add_argument(
            "--data",
            default=None,
            help=(
                "CSV file for one model, or a data root holding <dataset dir>/<file> "
                f"(default {DEFAULT_DATA_ROOT})"
            ),
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--out", default=None, help=f"artefact root (default {DEFAULT_ARTEFACT_ROOT})")
        parser.add_argument(
            "--model-version",
            default=None,
            dest="model_version",
            help="artefact version to write (default: the model's current version)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = list(MODEL_KEYS) if options["model"] == "all" else [options["model"]]
        data: str | None = options["data"]
        if data is not None and len(keys) > 1 and not Path(data).is_dir():
            raise CommandError("--data must be a data root directory when training all models")
        out_root = Path(options["out"]) if options["out"] else DEFAULT_ARTEFACT_ROOT
        for key in keys:
            command = created_with_command(
                key=key,
                data=data,
                seed=options["seed"],
                out=options["out"],
                version=options["model_version"],
            )
            try:
                path = data_path_resolve(task_get(key), Path(data) if data else None)
                saved = risk_model_train_and_save(
                    key=key,
                    data_path=path,
                    out_root=out_root,
                    seed=options["seed"],
                    version=options["model_version"],
                    created_with=command,
                )
            except LearnedRiskError as exc:
                raise CommandError(str(exc)) from exc
            for line in payload_summary(saved.payload):
                self.stdout.write(line)
            self.stdout.write(f"  wrote {saved.path} (model.json sha256 {saved.sha256})")
