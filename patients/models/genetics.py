from __future__ import annotations

from django.db import models

from patients.models.patient import Patient
from patients.models.source import AttributedRecord


class Zygosity(models.TextChoices):
    HOMOZYGOUS = "homozygous"
    HETEROZYGOUS = "heterozygous"
    HEMIZYGOUS = "hemizygous"
    # The variant was tested for and not found (homozygous for the reference allele).
    ABSENT = "absent"


class GeneticFinding(AttributedRecord):
    """A tested variant, e.g. PNPLA3 rs738409 C>G (I148M) heterozygous."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="genetic_findings")
    gene = models.CharField(max_length=32, help_text="HGNC symbol, e.g. PNPLA3.")
    rsid = models.CharField("dbSNP rsID", max_length=32, blank=True)
    hgvs = models.CharField("HGVS expression", max_length=255, blank=True)
    genotype = models.CharField(max_length=32, blank=True, help_text="Alleles, e.g. C/G.")
    zygosity = models.CharField(max_length=16, choices=Zygosity.choices, null=True, blank=True)  # noqa: DJ001  (null: not stated)
    assay = models.CharField(max_length=200, blank=True)
    reported_on = models.DateField()

    class Meta:
        ordering = ["-reported_on", "-id"]

    def __str__(self) -> str:
        return f"genetic finding {self.pk}"
