from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import World, client_for

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_is_valid_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/patients/" in schema and "/api/v1/analyses/" in schema


def test_swagger_ui_is_served(world: World) -> None:
    assert client_for(world.clinician).get("/api/docs/").status_code == 200
    assert client_for(world.clinician).get("/api/schema/").status_code == 200


def test_no_patient_names_or_mrns_in_logs(world: World, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(world.clinician)
    client.get("/api/v1/patients/", {"q": world.patient.family_name})
    client.get(f"/api/v1/patients/{world.patient.pk}/")
    client_for(world.other_clinician).get(f"/api/v1/patients/{world.patient.pk}/")  # a denial is logged
    client.patch(f"/api/v1/patients/{world.patient.pk}/", {"birth_date": "2999-01-01"}, format="json")
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (world.patient.family_name, world.patient.given_name, world.patient.mrn):
        assert secret not in text
