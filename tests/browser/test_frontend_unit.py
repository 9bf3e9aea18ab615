"""The front end's own unit tests (vitest: event parsing, units, API errors, routes, viewer
helpers), run from pytest so that one command runs everything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def test_frontend_unit_suite_passes() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is not installed (scripts/bootstrap.sh installs Node and npm)"
    assert (FRONTEND / "node_modules").is_dir(), "frontend/node_modules is missing: run scripts/bootstrap.sh"
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=FRONTEND, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
