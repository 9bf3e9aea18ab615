"""``manage.py evaluate_scores --input cases.jsonl``: score requests in, responses out (JSONL).

A thin wrapper over ``inference.risk.scores.jsonl.scores_evaluate_lines``: one response line per
request line on stdout, in order; a bad line gets an ``{"error": ...}`` line and the run goes
on; the exit status is 1 when any line failed.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.risk.scores.jsonl import scores_evaluate_lines


class Command(BaseCommand):
    help = "Evaluate validated clinical scores for each JSON request line of a file (- for stdin)."
    # Pure computation: no database, URLs or models, so it runs even where checks would fail.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", required=True, help="JSON Lines file of request bodies, or -")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["input"]
        try:
            if path == "-":
                evaluated, failed = scores_evaluate_lines(sys.stdin, self.stdout)
            else:
                with open(path, encoding="utf-8") as lines:
                    evaluated, failed = scores_evaluate_lines(lines, self.stdout)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        if failed:
            raise CommandError(f"{failed} of {evaluated} lines failed", returncode=1)
