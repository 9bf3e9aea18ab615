"""``manage.py evaluate_scores``: one output line per input line, errors inline, exit status 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.risk.scores.jsonl import scores_evaluate_lines

GOOD = {
    "patient": {"age_years": 50, "sex": "female"},
    "observations": [
        {"code": "1975-2", "value": 1.0, "unit": "mg/dL"},
        {"code": "1751-7", "value": 40, "unit": "g/L"},
    ],
    "scores": ["albi"],
}


def test_lines_in_order_with_errors_inline() -> None:
    lines = [json.dumps(GOOD), "not json", json.dumps({"scores": ["nope"]}), "", json.dumps(GOOD)]
    out = io.StringIO()
    assert scores_evaluate_lines(lines, out) == (4, 2)
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(written) == 4
    assert written[0]["scores"]["albi"]["value"] == -2.59
    assert written[1]["error"]["code"] == "malformed_request" and written[1]["error"]["detail"]["line"] == 2
    assert written[2]["error"]["code"] == "unknown_score" and written[2]["error"]["detail"]["line"] == 3
    assert set(written[2]["error"]) == {"code", "message", "detail"}
    assert written[3] == written[0]


def test_command_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n", encoding="utf-8")
    out = io.StringIO()
    call_command("evaluate_scores", "--input", str(good), stdout=out)
    assert len(out.getvalue().splitlines()) == 2

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n{\n", encoding="utf-8")
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("evaluate_scores", "--input", str(bad), stdout=out)
    assert caught.value.returncode == 1
    assert [("error" in json.loads(line)) for line in out.getvalue().splitlines()] == [False, True]


def test_command_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("evaluate_scores", "--input", str(tmp_path / "missing.jsonl"), stdout=io.StringIO())
