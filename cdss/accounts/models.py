from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    CONSULTANT = "consultant", "Consultant (remote specialist)"
    PATIENT = "patient", "Patient"
    ADMIN = "admin", "Administrator"


class User(AbstractUser):
    """A person who logs in. What they may see follows from ``role`` (see patients.access)."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLINICIAN)
    failed_login_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.username

    def save(self, *args: Any, **kwargs: Any) -> None:
        # set_password() leaves the new raw password here until the next save; the post_save
        # receiver in cdss.accounts.signals revokes the API tokens when it sees this flag.
        self.password_changed_on_save = getattr(self, "_password", None) is not None and self.pk is not None
        super().save(*args, **kwargs)


class CareTeam(models.Model):
    """Clinicians who share responsibility for a set of patients."""

    name = models.CharField(max_length=200, unique=True)
    members = models.ManyToManyField(User, related_name="care_teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
