"""schemathesis against the live test server: every operation of the OpenAPI schema, with
generated valid and invalid input, as a clinician. Zero server errors, every answer (errors
included) documented with its status, content type and shape.

``positive_data_acceptance`` is left out: the schema cannot state the domain's rules (a LOINC
code the catalogue knows, a plausible date, a series of this patient), so schema-valid input
is rightly refused with a 4xx, which that check counts as a failure. Every other check runs.
Generation has a fixed seed and a bound (SCHEMATHESIS_MAX_EXAMPLES per operation, 5 by
default; the examples and fuzzing phases), so a run is reproducible: about 470 cases in 45 to
80 s on two busy cores. The coverage phase (every boundary of every parameter) is left out: it
alone took over 5 minutes there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from tests.browser.conftest import LiveServer, daphne_server, live
from tests.conftest import world_build

__all__ = ["daphne_server", "live"]

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live: LiveServer, tmp_path: Path) -> None:
    world = world_build()
    token = Token.objects.create(user=world.clinician).key
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{live.url}/api/schema/", "--url", live.url,
        "-H", f"Authorization: Token {token}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--seed", "19", "-n", MAX_EXAMPLES, "--phases", "examples,fuzzing",
        "--request-timeout", "20", "--no-color",
    ]
    result: Any = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report + "\n--- server log ---\n" + live.log_text()[-5000:]
