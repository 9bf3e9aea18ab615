"""axe-core in the page under test: WCAG 2.2 A/AA rules; serious and critical violations fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING = ("serious", "critical")


def axe_run(page: Any) -> list[dict[str, Any]]:
    """Every violation axe finds in the page as it is now (impact, rule id, selectors)."""
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: run `npm ci` in frontend (axe-core is a devDependency)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the portal's CSP rightly refuses an injected
        # <script> tag, and must not be loosened for a test.
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = page.evaluate(
        "(tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })",
        TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "targets": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def axe_assert_clean(page: Any, where: str) -> list[dict[str, Any]]:
    """Fail on serious or critical violations; return the minor and moderate ones for the record."""
    violations = axe_run(page)
    bad = [v for v in violations if v["impact"] in FAILING]
    assert not bad, f"axe-core on {where}: " + "\n".join(f"{v['impact']} {v['id']}: {v['help']} at {v['targets']}" for v in bad)
    return violations
