"""Link and refresh studies from the PACS by QIDO-RS; report every mismatch with both identities."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdss.core.errors import CdssError
from imaging.services import imaging_study_sync
from patients.models import Patient


class Command(BaseCommand):
    help = "Sync imaging studies from the PACS: link by PatientID = MRN, refresh linked ones, report mismatches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patient", metavar="MRN", help="only this patient's studies (default: every study in the PACS)")

    def handle(self, *args: Any, **options: Any) -> None:
        patient = None
        if options["patient"]:
            patient = Patient.objects.filter(mrn=options["patient"]).first()
            if patient is None:
                raise CommandError("no patient with that MRN")
        try:
            report = imaging_study_sync(patient=patient)
        except CdssError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"linked {len(report.linked)}, refreshed {len(report.refreshed)}, "
                          f"missing from the PACS {len(report.missing)}, mismatches {len(report.mismatches)}")
        for mismatch in report.mismatches:
            self.stdout.write(
                f"  {mismatch.reason}: study {mismatch.study_instance_uid} has PatientID {mismatch.dicom_patient_id!r}"
                + (f", linked record MRN {mismatch.mrn!r}" if mismatch.mrn else "") + " (not linked)"
            )
        for study_id in report.missing:
            self.stdout.write(f"  imaging study {study_id} is linked but no longer in the PACS")
