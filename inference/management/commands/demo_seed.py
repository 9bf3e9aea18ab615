"""Create demo accounts for every role and synthetic demo patients (idempotent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from cdss.accounts.models import CareTeam, Role, User
from cdss.accounts.services import user_create
from patients.access import share_grant_create, share_grants_active
from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord, Patient
from patients.services import (
    clinical_finding_create,
    genetic_finding_create,
    lifestyle_record_create,
    observation_record_batch,
)

DEMO_ACCOUNTS = [
    ("admin", Role.ADMIN, "Ada", "Admin"),
    ("clinician", Role.CLINICIAN, "Chris", "Hepatologist"),
    ("clinician2", Role.CLINICIAN, "Casey", "Radiologist"),
    ("consultant", Role.CONSULTANT, "Kim", "Transplant"),
    ("patient", Role.PATIENT, "Pat", "Demo"),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105  (demo accounts only, printed on start)

# Synthetic people: names and MRNs are invented.
DEMO_PATIENTS = [
    ("DEMO-0001", "Alex", "Rivera", dt.date(1961, 3, 14), "male"),
    ("DEMO-0002", "Sam", "Okafor", dt.date(1958, 11, 2), "female"),
    ("DEMO-0003", "Jordan", "Lindqvist", dt.date(1972, 6, 21), "male"),
    ("DEMO-0004", "Robin", "Tanaka", dt.date(1949, 1, 30), "female"),
    # Children: the demo chest radiographs are paediatric (Kermany et al., ages 1-5), so they
    # belong to children, inside cxr_pneumonia's intended population; an adult's radiograph
    # (DEMO-0002) shows the model's abstention.
    ("DEMO-0005", "Noa", "Haddad", dt.date(2021, 1, 15), "female"),
    ("DEMO-0006", "Eli", "Moreau", dt.date(2022, 2, 3), "male"),
]
# Care team of each demo patient; the demo clinician sees all but DEMO-0004.
DEMO_CARE_TEAMS = {
    "DEMO-0001": "Hepatology (demo)", "DEMO-0002": "Hepatology (demo)", "DEMO-0003": "Hepatology (demo)",
    "DEMO-0004": "Thoracic imaging (demo)",
    "DEMO-0005": "Paediatric respiratory (demo)", "DEMO-0006": "Paediatric respiratory (demo)",
}


# Synthetic clinical histories, one per demo patient (by MRN). Laboratory series run from the
# oldest to the newest of LAB_VISITS visits, three months apart, ending today; each entry is
# (LOINC code, unit as the lab reported it, first value, last value); values between are
# interpolated. The units are deliberately mixed (SI and conventional) as real records are.
LAB_VISITS = 6
LAB_INTERVAL_DAYS = 91
DEMO_LABS: dict[str, list[tuple[str, str, float, float]]] = {
    # Alcohol-related cirrhosis, decompensating slowly (conventional US units).
    "DEMO-0001": [
        ("1742-6", "U/L", 58, 41), ("1920-8", "U/L", 96, 78), ("1975-2", "mg/dL", 1.4, 2.6),
        ("1751-7", "g/dL", 3.4, 2.9), ("777-3", "10*3/uL", 121, 94), ("6301-6", "", 1.3, 1.6),
        ("2160-0", "mg/dL", 0.9, 1.2), ("2951-2", "meq/L", 136, 131), ("1834-1", "ng/mL", 6.1, 8.8),
        ("6768-6", "U/L", 128, 141), ("2324-2", "U/L", 246, 182),
    ],
    # Metabolic dysfunction-associated steatotic liver disease with type 2 diabetes (SI units).
    "DEMO-0002": [
        ("1742-6", "ukat/L", 1.25, 0.85), ("1920-8", "U/L", 52, 41), ("1975-2", "umol/L", 12, 14),
        ("1751-7", "g/L", 42, 41), ("777-3", "10*9/L", 192, 171), ("6301-6", "{INR}", 1.0, 1.0),
        ("2160-0", "umol/L", 72, 81), ("2951-2", "mmol/L", 139, 140), ("1834-1", "ng/mL", 3.2, 3.0),
        ("6768-6", "U/L", 96, 92), ("2324-2", "U/L", 88, 74),
    ],
    # Chronic hepatitis B with cirrhosis under surveillance; AFP rising (reported in kU/L).
    "DEMO-0003": [
        ("1742-6", "U/L", 78, 52), ("1920-8", "U/L", 64, 58), ("1975-2", "mg/dL", 0.9, 1.1),
        ("1751-7", "g/L", 39, 37), ("777-3", "10*9/L", 148, 126), ("6301-6", "{INR}", 1.1, 1.2),
        ("2160-0", "mg/dL", 0.95, 0.98), ("2951-2", "mmol/L", 138, 137), ("1834-1", "kU/L", 6.5, 37.0),
        ("6768-6", "U/L", 104, 118), ("2324-2", "U/L", 61, 70),
    ],
    # Primary biliary cholangitis responding to ursodeoxycholic acid (cholestatic pattern).
    "DEMO-0004": [
        ("1742-6", "U/L", 48, 31), ("1920-8", "U/L", 51, 36), ("1975-2", "umol/L", 24, 19),
        ("1751-7", "g/L", 36, 37), ("777-3", "/mm3", 215000, 204000), ("6301-6", "{INR}", 1.0, 1.0),
        ("2160-0", "umol/L", 79, 84), ("2951-2", "mmol/L", 140, 141), ("1834-1", "ng/mL", 2.1, 2.3),
        ("6768-6", "U/L", 352, 218), ("2324-2", "U/L", 214, 132),
    ],
}
DEMO_GENETICS: dict[str, list[dict[str, Any]]] = {
    "DEMO-0001": [
        {"gene": "PNPLA3", "rsid": "rs738409", "hgvs": "NM_025225.3:c.444C>G", "genotype": "G/G", "zygosity": "homozygous", "assay": "TaqMan SNP genotyping"},
        {"gene": "TM6SF2", "rsid": "rs58542926", "hgvs": "NM_001001524.3:c.499G>A", "genotype": "C/C", "zygosity": "absent", "assay": "TaqMan SNP genotyping"},
    ],
    "DEMO-0002": [
        {"gene": "PNPLA3", "rsid": "rs738409", "genotype": "C/G", "zygosity": "heterozygous", "assay": "Genotyping array"},
        {"gene": "TM6SF2", "rsid": "rs58542926", "genotype": "C/T", "zygosity": "heterozygous", "assay": "Genotyping array"},
        {"gene": "HSD17B13", "rsid": "rs72613567", "genotype": "T/TA", "zygosity": "heterozygous", "assay": "Genotyping array"},
    ],
    "DEMO-0003": [
        {"gene": "HFE", "rsid": "rs1800562", "hgvs": "NP_000401.1:p.Cys282Tyr", "zygosity": "absent", "assay": "HFE genotyping (PCR)"},
    ],
    "DEMO-0004": [
        {"gene": "HFE", "rsid": "rs1800562", "hgvs": "NP_000401.1:p.Cys282Tyr", "genotype": "G/A", "zygosity": "heterozygous", "assay": "HFE genotyping (PCR)"},
    ],
}
# (days before today, fields); oldest first.
DEMO_LIFESTYLE: dict[str, list[tuple[int, dict[str, Any]]]] = {
    "DEMO-0001": [
        (540, {"alcohol_value": 60, "alcohol_unit": "units/week", "smoking_status": "former", "pack_years": 20, "height_cm": 178, "weight_kg": 88, "diabetes": "none", "activity_minutes_per_week": 30}),
        (90, {"alcohol_value": 0, "alcohol_unit": "units/week", "weight_kg": 82, "activity_minutes_per_week": 90}),
    ],
    "DEMO-0002": [
        (400, {"alcohol_value": 5, "alcohol_unit": "g/day", "smoking_status": "never", "height_cm": 162, "weight_kg": 97, "diabetes": "type_2", "activity_minutes_per_week": 20}),
        (30, {"weight_kg": 91, "activity_minutes_per_week": 120}),
    ],
    "DEMO-0003": [
        (200, {"alcohol_value": 10, "alcohol_unit": "g/day", "smoking_status": "current", "pack_years": 15, "height_cm": 182, "weight_kg": 80, "diabetes": "none", "activity_minutes_per_week": 150}),
    ],
    "DEMO-0004": [
        (300, {"alcohol_value": 0, "alcohol_unit": "g/day", "smoking_status": "never", "height_cm": 158, "weight_kg": 60, "diabetes": "none", "activity_minutes_per_week": 180}),
    ],
}
DEMO_FINDINGS: dict[str, list[tuple[int, dict[str, Any]]]] = {
    "DEMO-0001": [
        (400, {"ascites": "none", "encephalopathy": "none", "ecog_ps": 0, "dialysis_twice_past_week": False, "hbv_status": "negative", "hcv_status": "negative", "known_cirrhosis": True, "cholestatic_disease": False}),
        (14, {"ascites": "slight", "encephalopathy": "grade_1_2", "ecog_ps": 1, "dialysis_twice_past_week": False}),
    ],
    "DEMO-0002": [
        (60, {"ascites": "none", "encephalopathy": "none", "ecog_ps": 0, "hbv_status": "vaccinated", "hcv_status": "negative", "known_cirrhosis": False, "cholestatic_disease": False}),
    ],
    "DEMO-0003": [
        (30, {"ascites": "none", "encephalopathy": "none", "ecog_ps": 0, "dialysis_twice_past_week": False, "hbv_status": "chronic", "hcv_status": "negative", "known_cirrhosis": True, "cholestatic_disease": False}),
    ],
    "DEMO-0004": [
        (45, {"ascites": "none", "encephalopathy": "none", "ecog_ps": 1, "hbv_status": "negative", "hcv_status": "negative", "known_cirrhosis": False, "cholestatic_disease": True}),
    ],
}


def demo_records_seed(*, patient: Patient, actor: User, today: dt.date) -> None:
    """Give a demo patient a record through the record services; each part only once."""
    mrn = patient.mrn
    if mrn in DEMO_LABS and not LabObservation.objects.filter(patient=patient).exists():
        rows = []
        # Seeded before 08:30 UTC, today's visit would lie in the future and be refused.
        latest = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
        for visit in range(LAB_VISITS):
            taken = min(latest, dt.datetime.combine(
                today - dt.timedelta(days=LAB_INTERVAL_DAYS * (LAB_VISITS - 1 - visit)), dt.time(8, 30), tzinfo=dt.UTC
            ))
            for code, unit, first, last in DEMO_LABS[mrn]:
                value = first + (last - first) * visit / (LAB_VISITS - 1)
                rows.append({"code": code, "value": round(value, 2), "unit": unit, "observed_at": taken.isoformat(), "specimen": "serum" if code not in ("777-3", "6301-6") else "whole blood"})
        observation_record_batch(actor=actor, patient=patient, rows=rows)
    if mrn in DEMO_GENETICS and not GeneticFinding.objects.filter(patient=patient).exists():
        for finding in DEMO_GENETICS[mrn]:
            genetic_finding_create(actor=actor, patient=patient, data={**finding, "reported_on": (today - dt.timedelta(days=700)).isoformat()})
    if mrn in DEMO_LIFESTYLE and not LifestyleRecord.objects.filter(patient=patient).exists():
        for days, fields in DEMO_LIFESTYLE[mrn]:
            lifestyle_record_create(actor=actor, patient=patient, data={"recorded_on": (today - dt.timedelta(days=days)).isoformat(), **fields})
    if mrn in DEMO_FINDINGS and not ClinicalFinding.objects.filter(patient=patient).exists():
        for days, fields in DEMO_FINDINGS[mrn]:
            clinical_finding_create(actor=actor, patient=patient, data={"assessed_on": (today - dt.timedelta(days=days)).isoformat(), **fields})


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


class Command(BaseCommand):
    help = "Create demo accounts (every role) and synthetic demo patients."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        users: dict[str, User] = {}
        for username, role, first, last in DEMO_ACCOUNTS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(username=username, password=demo_password(username), role=role, first_name=first, last_name=last)
            users[username] = user
        teams = {name: CareTeam.objects.get_or_create(name=name)[0] for name in sorted(set(DEMO_CARE_TEAMS.values()))}
        teams["Hepatology (demo)"].members.add(users["clinician"])
        teams["Thoracic imaging (demo)"].members.add(users["clinician2"])
        teams["Paediatric respiratory (demo)"].members.add(users["clinician"], users["clinician2"])
        for index, (mrn, given, family, born, sex) in enumerate(DEMO_PATIENTS):
            patient, _created = Patient.objects.get_or_create(
                mrn=mrn,
                defaults={"given_name": given, "family_name": family, "birth_date": born, "sex": sex,
                          "care_team": teams[DEMO_CARE_TEAMS[mrn]]},
            )
            if index == 0 and patient.user_id is None:
                patient.user = users["patient"]
                patient.save(update_fields=["user"])
            if index == 0 and not share_grants_active(users["consultant"]).filter(patient=patient).exists():
                # The demo consultant sees this case for a month; consultations themselves are
                # requested in the portal (the consultations app sits above this one).
                share_grant_create(
                    granted_by=users["clinician"], user=users["consultant"], patient=patient, identifiable=True,
                    expires_at=timezone.now() + dt.timedelta(days=30),
                )
            demo_records_seed(
                patient=patient, actor=users["clinician"] if index < 3 else users["clinician2"], today=dt.date.today()
            )
        self.stdout.write("demo accounts (username / password):")
        for username, role, _, _ in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<10} {username:<11} / {demo_password(username)}")
