"""``manage.py predict_risk MODEL --input FILE.csv --output preds.csv``.

Thin wrapper over ``batch.risk_predict_file``: one output row per input row, in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.risk.learned.artefact import DEFAULT_ARTEFACT_ROOT
from inference.risk.learned.batch import risk_predict_file
from inference.risk.learned.datasets import MODEL_KEYS
from inference.risk.learned.errors import LearnedRiskError


class Command(BaseCommand):
    # offline ML tooling: it touches neither the database nor URLs, so unrelated system-check
    # failures of the web stack must not block it (run ``manage.py check`` for those)
    requires_system_checks: list[str] = []
    help = (
        "Score a cohort CSV (in the dataset's own format; the label column may be absent) with "
        "a learned risk model; writes probabilities (or risk_score and p_death_5y for pbc), "
        "imputed inputs and the top feature contributions per row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", choices=list(MODEL_KEYS))
        parser.add_argument("--input", required=True, help="cohort CSV in the dataset's format")
        parser.add_argument("--output", required=True, help="where to write the predictions CSV")
        parser.add_argument(
            "--artefacts", default=None, help=f"artefact root (default {DEFAULT_ARTEFACT_ROOT})"
        )
        parser.add_argument("--model-version", default=None, dest="model_version", help="default: the newest")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            n_rows = risk_predict_file(
                key=options["model"],
                input_path=Path(options["input"]),
                output_path=Path(options["output"]),
                artefact_root=Path(options["artefacts"]) if options["artefacts"] else DEFAULT_ARTEFACT_ROOT,
                version=options["model_version"],
            )
        except LearnedRiskError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"wrote {n_rows} predictions to {options['output']}")
