"""Store the committed demo images in the PACS and link them to the demo patients (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cdss.core.errors import CdssError
from imaging.demo import demo_imaging_load


class Command(BaseCommand):
    help = "Load imaging/demo_data into the PACS (STOW-RS) and link it to DEMO-0001..DEMO-0006 (run demo_seed first)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("demo imaging:")
        try:
            results = demo_imaging_load(say=self.stdout.write)
        except CdssError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if any(r.status == "failed" for r in results):
            raise CommandError("some demo studies could not be loaded (see above)")
