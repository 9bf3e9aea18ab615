"""``manage.py liver_lesion_rule --data ../shared/data [--card]``: calibrate and evaluate the lesion-level
decision rule of ``liver_ct_seg`` (leave one case out) and, with ``--card``, write it into the card.

Thin wrapper around :mod:`inference.training.imaging.liver_lesion_rule` (imported in ``handle``, so
that ``help`` and argument parsing never import torch). The network runs once per case; its outputs are cached under
``var/liver_lesion_rule``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # offline tool: needs no URLconf or database checks
    help = "Fit the liver model's lesion-level rule on the development cases and report it leave-one-case-out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, help="the shared data folder (../shared/data)")
        parser.add_argument("--card", action="store_true", help="write the rule and the table into the card")
        parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        # Training imports torch: loaded when the command runs, so `help` and the parser stay light.
        from inference.training.imaging import common, liver_lesion_rule

        common.threads_set(options["threads"])
        data = Path(options["data"])
        if not data.is_dir():
            raise CommandError(f"--data {data} is not a folder")
        result = liver_lesion_rule.run(data_root=data, log=lambda m: self.stderr.write(m))
        if options["card"]:
            path = liver_lesion_rule.card_write(result=result)
            self.stderr.write(f"wrote {path}")
        self.stdout.write(json.dumps(liver_lesion_rule.summary(result), indent=2))
