"""The consultation workflow sits above patients, imaging and inference; messaging sits above
patients only. Nothing below imports upward (the wiring in cdss/urls.py, routing.py and asgi.py aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIRING = {ROOT / "cdss" / "urls.py", ROOT / "cdss" / "routing.py", ROOT / "cdss" / "asgi.py"}


def _imports(package: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        if path in WIRING or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name.split(".")[0]) for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("cdss", {"consultations", "messaging", "patients", "imaging", "inference"}),
        ("patients", {"consultations", "messaging", "imaging", "inference"}),
        ("imaging", {"consultations", "messaging", "inference"}),
        ("inference", {"consultations", "messaging"}),
        ("messaging", {"consultations", "imaging", "inference"}),
    ],
)
def test_layers_import_downward_only(package: str, forbidden: set[str]) -> None:
    upward = sorted((path, module) for path, module in _imports(package) if module in forbidden)
    assert upward == []
