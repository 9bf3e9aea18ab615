"""Who may call what: one row per endpoint, extended by every feature that adds one.

Placeholders in paths: {patient} is the care-team patient of the ``world`` fixture, whom the
clinician, the consultant (open consultation), the patient themself and the admin may see;
``other_clinician`` and ``patient_other`` must get 404, exactly as for a missing patient.
"""

from __future__ import annotations

import importlib
import pkgutil
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("anonymous", "clinician", "other_clinician", "consultant", "patient_self", "patient_other", "admin")

# Reading the world patient's data.
PATIENT_READ = {
    "anonymous": 401, "clinician": 200, "other_clinician": 404, "consultant": 200,
    "patient_self": 200, "patient_other": 404, "admin": 200,
}
# Changing it: only clinicians of the team and admins; consultants and patients read only.
PATIENT_WRITE_OK = 200
PATIENT_WRITE = {
    "anonymous": 401, "clinician": PATIENT_WRITE_OK, "other_clinician": 404, "consultant": 403,
    "patient_self": 403, "patient_other": 404, "admin": PATIENT_WRITE_OK,
}
# Endpoints that any logged-in user may call; their results are scoped.
ANY_USER = {role: (401 if role == "anonymous" else 200) for role in ROLES}
ADMIN_ONLY = {role: (401 if role == "anonymous" else 200 if role == "admin" else 403) for role in ROLES}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    expect: dict[str, int]
    body: dict[str, Any] = field(default_factory=dict)
    # Allowed callers reach the PACS: the row runs in the integration tier only.
    needs_pacs: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


CORE_ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/v1/auth/me/", ANY_USER),
    Endpoint("GET", "/api/v1/patients/", ANY_USER),
    Endpoint("GET", "/api/v1/patients/{patient}/", PATIENT_READ),
    Endpoint("PATCH", "/api/v1/patients/{patient}/", PATIENT_WRITE, {"phone": "+44 20 7946 0000"}),
    Endpoint("GET", "/api/v1/audit/", ADMIN_ONLY),
]


def _feature_rows() -> list[Endpoint]:
    """Each feature adds its rows in ``tests/<app>/access_rows.py`` as ``ACCESS_ROWS``."""
    rows: list[Endpoint] = []
    tests_dir = Path(__file__).parent
    for package in sorted(p.name for p in pkgutil.iter_modules([str(tests_dir)]) if p.ispkg):
        if (tests_dir / package / "access_rows.py").exists():
            rows.extend(importlib.import_module(f"tests.{package}.access_rows").ACCESS_ROWS)
    return rows


def _feature_placeholders() -> dict[str, Callable[[Any], int]]:
    """Placeholders besides {patient}, e.g. {draft_report}: ``ACCESS_PLACEHOLDERS`` in a
    feature's ``access_rows.py`` maps each name to a function that makes the object in the
    ``world`` (tests/conftest.py) and returns its id."""
    found: dict[str, Callable[[Any], int]] = {}
    tests_dir = Path(__file__).parent
    for package in sorted(p.name for p in pkgutil.iter_modules([str(tests_dir)]) if p.ispkg):
        if (tests_dir / package / "access_rows.py").exists():
            found.update(getattr(importlib.import_module(f"tests.{package}.access_rows"), "ACCESS_PLACEHOLDERS", {}))
    return found


ENDPOINTS: list[Endpoint] = CORE_ENDPOINTS + _feature_rows()
PLACEHOLDERS = _feature_placeholders()
MISSING_ID = 999_999_999


def endpoint_path(endpoint: Endpoint, world: Any, *, missing: bool = False) -> str:
    """The endpoint's path for the ``world``, or with every id one that does not exist."""
    names = {name for _, name, _, _ in string.Formatter().parse(endpoint.path) if name}
    values = {name: MISSING_ID if missing else (world.patient.pk if name == "patient" else PLACEHOLDERS[name](world))
              for name in names}
    return endpoint.path.format(**values)
