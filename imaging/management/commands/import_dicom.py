"""Import DICOM files (a file, a folder or a zip) for a patient, or a NIfTI volume on a reference series.

    python manage.py import_dicom PATH --patient MRN [--confirm-relink]
    python manage.py import_dicom VOLUME.nii.gz --patient MRN --reference-series UID
        [--as auto|seg|image] [--labels labels.csv] [--algorithm NAME] [--description TEXT]

DICOM goes through the same validation and STOW-RS path as an upload through the API. A NIfTI
is resampled onto the reference series' grid and stored as a DICOM Segmentation (label maps)
or as a new derived image series (anything else); see imaging/nifti.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cdss.core.errors import CdssError
from imaging.models import LinkSource
from imaging.nifti import labels_read, nifti_import
from imaging.services import UploadReport, imaging_upload, upload_sources_from_paths
from patients.models import Patient


class Command(BaseCommand):
    help = "Import DICOM (file, folder or zip) or a NIfTI volume on a reference series, for one patient."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--patient", metavar="MRN", required=True)
        parser.add_argument("--confirm-relink", action="store_true",
                            help="link files whose PatientID differs from the MRN (recorded on the study)")
        parser.add_argument("--reference-series", metavar="UID", help="NIfTI only: the series whose geometry it is put on")
        parser.add_argument("--as", dest="kind", choices=["auto", "seg", "image"], default="auto")
        parser.add_argument("--labels", type=Path, help="NIfTI label map: CSV of index,name")
        parser.add_argument("--algorithm", help="NIfTI label map: the algorithm that made it (SEG AUTOMATIC)")
        parser.add_argument("--description", default="", help="series description of what is created")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        patient = Patient.objects.filter(mrn=options["patient"]).first()
        if patient is None:
            raise CommandError("no patient with that MRN")
        is_nifti = path.name.endswith((".nii", ".nii.gz"))
        try:
            if is_nifti:
                if not options["reference_series"]:
                    raise CommandError("a NIfTI volume needs --reference-series UID")
                kind, report = nifti_import(
                    path=path, patient=patient, reference_series_uid=options["reference_series"], kind=options["kind"],
                    labels=labels_read(options["labels"]) if options["labels"] else None,
                    algorithm=options["algorithm"], description=options["description"],
                )
                self.stdout.write(f"NIfTI imported as {'a DICOM Segmentation' if kind == 'seg' else 'a derived image series'}")
            else:
                sources = upload_sources_from_paths([path])
                if not sources:
                    raise CommandError("no files found")
                report = imaging_upload(actor=None, patient=patient, sources=sources,
                                        confirm_relink=options["confirm_relink"], link_source=LinkSource.IMPORT)
        except CdssError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self._print(report)
        if report.problems:
            raise CommandError(f"{report.problems} file(s) not stored")

    def _print(self, report: UploadReport) -> None:
        self.stdout.write(f"stored {report.stored} file(s), {report.problems} not stored")
        for result in report.files:
            if result.status != "stored":
                self.stdout.write(f"  {result.name}: {result.status} {result.code or ''} {result.message}".rstrip())
        for study in report.studies:
            self.stdout.write(f"  study {study.study_instance_uid}: {study.status}"
                              + (f" (imaging study {study.imaging_study_id})" if study.imaging_study_id else ""))
