"""Create demo accounts for every role and synthetic demo patients (idempotent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from cdss.accounts.models import CareTeam, Role, User
from cdss.accounts.services import user_create
from cdss.consultations.models import Consultation
from patients.models import Patient

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
]


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
        team, _ = CareTeam.objects.get_or_create(name="Hepatology (demo)")
        team.members.add(users["clinician"])
        other_team, _ = CareTeam.objects.get_or_create(name="Thoracic imaging (demo)")
        other_team.members.add(users["clinician2"])
        for index, (mrn, given, family, born, sex) in enumerate(DEMO_PATIENTS):
            patient, _created = Patient.objects.get_or_create(
                mrn=mrn,
                defaults={"given_name": given, "family_name": family, "birth_date": born, "sex": sex,
                          "care_team": team if index < 3 else other_team},
            )
            if index == 0 and patient.user_id is None:
                patient.user = users["patient"]
                patient.save(update_fields=["user"])
            if index == 0 and not Consultation.objects.filter(patient=patient, consultant=users["consultant"]).exists():
                Consultation.objects.create(patient=patient, consultant=users["consultant"], requested_by=users["clinician"], question="Transplant assessment?")
        self.stdout.write("demo accounts (username / password):")
        for username, role, _, _ in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<10} {username:<11} / {demo_password(username)}")
