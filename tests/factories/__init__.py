"""factory_boy factories with synthetic people only."""

from __future__ import annotations

import datetime as dt

import factory

from cdss.accounts.models import CareTeam, Role, User
from patients.models import Patient, Sex

TEST_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.CLINICIAN
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class CareTeamFactory(factory.django.DjangoModelFactory[CareTeam]):
    class Meta:
        model = CareTeam
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Hepatology team {n}")

    @factory.post_generation
    def members(obj: CareTeam, create: bool, extracted: list[User] | None, **kwargs: object) -> None:
        if create and extracted:
            obj.members.set(extracted)


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    birth_date = factory.LazyFunction(lambda: dt.date(1965, 4, 12))
    sex = Sex.MALE
