"""Reading laboratory observations: filtered lists, the latest per analyte, time series."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from patients.errors import UnknownUnit
from patients.models import LabObservation, Patient
from patients.units import Analyte, analyte_by_code, analytes, units_from_canonical

SERIES_MAX_POINTS = 10_000


def observation_list(
    *, patient: Patient, code: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[LabObservation]:
    observations = LabObservation.objects.filter(patient=patient)
    if code:
        observations = observations.filter(code=analyte_by_code(code).loinc)
    if since is not None:
        observations = observations.filter(observed_at__gte=since)
    if until is not None:
        observations = observations.filter(observed_at__lte=until)
    return observations.order_by("-observed_at", "-id")


def observation_latest(
    *, patient: Patient, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[LabObservation]:
    """The newest observation of each analyte, in catalogue order, in one query.

    The one "latest value per analyte": the record page, the scores and the patient's results
    all read it. Only observations taken in ``[since, until]`` count (``until`` is the as-of
    time of a past evaluation). Newest is by time taken, then by id: of two results at the same
    moment the one stored last wins. Every unit of an analyte is one analyte (rows carry the
    LOINC code and the canonical value), and a censored result ("<5") counts like any other.
    """
    rows = LabObservation.objects.filter(patient=patient)
    if since is not None:
        rows = rows.filter(observed_at__gte=since)
    if until is not None:
        rows = rows.filter(observed_at__lte=until)
    ranked = rows.annotate(
        rank=Window(RowNumber(), partition_by=[F("code")], order_by=[F("observed_at").desc(), F("id").desc()])
    )
    order = {analyte.loinc: index for index, analyte in enumerate(analytes())}
    latest = list(ranked.filter(rank=1))
    return sorted(latest, key=lambda o: (order.get(o.code, len(order)), o.code))


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    id: int
    observed_at: dt.datetime
    value: float
    value_as_entered: float
    unit_as_entered: str
    comparator: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    analyte: Analyte
    unit: str
    points: list[SeriesPoint]
    truncated: bool


def observation_series(
    *,
    patient: Patient,
    code: str,
    unit: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Series:
    """One analyte over time, oldest first, converted from the canonical value to ``unit``."""
    analyte = analyte_by_code(code)
    spec = analyte.unit_spec(unit if unit is not None else analyte.canonical_unit)
    if spec is None:
        raise UnknownUnit(
            f"Unit {unit!r} is not accepted for {analyte.display_name}.",
            detail={"code": analyte.loinc, "unit": unit, "accepted": [s.unit for s in analyte.units], "field": "unit"},
        )
    rows = LabObservation.objects.filter(patient=patient, code=analyte.loinc)
    if since is not None:
        rows = rows.filter(observed_at__gte=since)
    if until is not None:
        rows = rows.filter(observed_at__lte=until)
    values = list(
        rows.order_by("observed_at", "id").values_list("id", "observed_at", "value_canonical", "value", "unit", "comparator")[
            : SERIES_MAX_POINTS + 1
        ]
    )
    kept = values[:SERIES_MAX_POINTS]
    converted = units_from_canonical(code=analyte.loinc, values=[row[2] for row in kept], unit=spec.unit)
    points = [
        SeriesPoint(
            id=pk,
            observed_at=observed_at,
            value=value,
            value_as_entered=entered,
            unit_as_entered=entered_unit,
            comparator=comparator,
        )
        for (pk, observed_at, _, entered, entered_unit, comparator), value in zip(kept, converted, strict=True)
    ]
    return Series(analyte=analyte, unit=spec.unit, points=points, truncated=len(values) > SERIES_MAX_POINTS)
