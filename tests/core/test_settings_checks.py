"""Bad or missing configuration fails at start-up through system checks naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(settings_module: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "DICOMWEB_URL", "LOG_LEVEL"}}
    clean.update(DJANGO_SETTINGS_MODULE=settings_module, **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *extra], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=120,
    )


def test_production_requires_secret_key() -> None:
    result = run_check("cdss.settings.production", ALLOWED_HOSTS="cdss.example.org")
    assert result.returncode != 0
    assert "cdss.E001" in result.stderr and "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "check_id"),
    [
        ("DATABASE_URL", "mysql://x/y", "cdss.E003"),
        ("REDIS_URL", "http://127.0.0.1:6379", "cdss.E003"),
        ("DICOMWEB_URL", "ftp://pacs", "cdss.E003"),
        ("DEBUG", "maybe", "cdss.E002"),
        ("LOG_LEVEL", "LOUD", "cdss.E004"),
        ("DICOMWEB_PROXY_FRAME_CACHE_MB", "-1", "cdss.E007"),
        ("DICOMWEB_PROXY_FRAME_CACHE_MB", "lots", "cdss.E007"),
        ("WEBRTC_ICE_SERVERS", "stun:stun.example.org", "cdss.E008"),
        ("WEBRTC_ICE_SERVERS", '[{"username": "no-urls"}]', "cdss.E008"),
    ],
)
def test_bad_variable_is_named(variable: str, value: str, check_id: str) -> None:
    result = run_check("cdss.settings.dev", **{variable: value})
    assert result.returncode != 0
    assert check_id in result.stderr and variable in result.stderr


def test_production_requires_allowed_hosts() -> None:
    result = run_check("cdss.settings.production", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "cdss.E005" in result.stderr


def test_production_profile_passes_deploy_checks() -> None:
    result = run_check(
        "cdss.settings.production", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY="k3y-" + "a1b2c3d4e5" * 6, ALLOWED_HOSTS="cdss.example.org",
    )
    assert result.returncode == 0, result.stderr


def test_development_profile_starts_without_secret() -> None:
    assert run_check("cdss.settings.dev").returncode == 0
