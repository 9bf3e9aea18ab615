"""Read the process environment once, into one typed object.

Settings modules import ``ENV`` and never touch ``os.environ`` themselves. Problems are
collected rather than raised so that ``cdss.core.checks`` can report every bad variable at
start-up through Django's system-check framework, each with a stable id that names it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class EnvProblem:
    check_id: str
    variable: str
    message: str


@dataclass(frozen=True)
class Env:
    debug: bool
    secret_key: str | None
    database_url: str | None
    redis_url: str
    dicomweb_url: str
    dicomweb_username: str | None
    dicomweb_password: str | None
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    data_dir: Path
    log_level: str
    broker_visibility_timeout_s: int
    analysis_step_stale_s: int
    analysis_sweep_every_s: float
    audit_reads_wait_for_flush: bool
    dicomweb_frame_cache_mb: int
    # "held" (a clinician releases each signed report) or "on_sign"; checked by inference.E010.
    report_release_policy: str = "held"
    # RTCIceServer objects for the consult room's calls; none is needed on one network.
    webrtc_ice_servers: list[dict[str, object]] = field(default_factory=list)
    # Imaging models each worker process loads when it starts, so the first analysis waits for none.
    worker_warm_models: list[str] = field(default_factory=list)
    problems: list[EnvProblem] = field(default_factory=list)


def _bool(name: str, default: bool, problems: list[EnvProblem]) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    problems.append(EnvProblem("cdss.E002", name, f"{name} must be true or false, not {raw!r}"))
    return default


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _non_negative_int(name: str, default: int, problems: list[EnvProblem]) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        problems.append(EnvProblem("cdss.E007", name, f"{name} must be a whole number >= 0, not {raw!r}"))
        return default
    return value


def _url(name: str, default: str | None, schemes: set[str], problems: list[EnvProblem]) -> str | None:
    raw = os.environ.get(name, default)
    if raw is None:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        problems.append(
            EnvProblem(
                "cdss.E003",
                name,
                f"{name} must be a URL with scheme {' or '.join(sorted(schemes))}",
            )
        )
        # Fall back so that start-up reaches the system checks, which then report it.
        return default
    return raw


def _ice_servers(name: str, problems: list[EnvProblem]) -> list[dict[str, object]]:
    """A JSON list of RTCIceServer objects, e.g. [{"urls": ["turn:turn.example.org:3478"], ...}]."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return []
    try:
        servers = json.loads(raw)
    except ValueError:
        servers = None
    if not isinstance(servers, list) or not all(isinstance(s, dict) and s.get("urls") for s in servers):
        problems.append(EnvProblem("cdss.E008", name, f"{name} must be a JSON list of objects with \"urls\""))
        return []
    return servers


def env_read() -> Env:
    problems: list[EnvProblem] = []
    debug = _bool("DEBUG", False, problems)
    # Whether a missing SECRET_KEY is fatal depends on the profile's final DEBUG, so the
    # system check (cdss.E001) decides that, not this reader.
    secret_key = os.environ.get("SECRET_KEY") or None
    database_url = _url(
        "DATABASE_URL", None, {"sqlite", "postgres", "postgresql", "pgsql"}, problems
    )
    redis_url = _url("REDIS_URL", "redis://127.0.0.1:6379/0", {"redis", "rediss"}, problems)
    dicomweb_url = _url(
        "DICOMWEB_URL", "http://127.0.0.1:8042/dicom-web", {"http", "https"}, problems
    )
    data_dir = Path(os.environ.get("CDSS_DATA_DIR", str(BASE_DIR / "var"))).resolve()
    log_level = os.environ.get("LOG_LEVEL", "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        problems.append(EnvProblem("cdss.E004", "LOG_LEVEL", f"unknown LOG_LEVEL {log_level!r}"))
        log_level = "INFO"
    return Env(
        debug=debug,
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url or "redis://127.0.0.1:6379/0",
        dicomweb_url=(dicomweb_url or "").rstrip("/"),
        dicomweb_username=os.environ.get("DICOMWEB_USERNAME") or None,
        dicomweb_password=os.environ.get("DICOMWEB_PASSWORD") or None,
        allowed_hosts=_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if debug else []),
        csrf_trusted_origins=_list("CSRF_TRUSTED_ORIGINS", []),
        data_dir=data_dir,
        log_level=log_level,
        broker_visibility_timeout_s=int(os.environ.get("CELERY_VISIBILITY_TIMEOUT_S", "1800") or 1800),
        analysis_step_stale_s=int(os.environ.get("ANALYSIS_STEP_STALE_S", "120") or 120),
        analysis_sweep_every_s=float(os.environ.get("ANALYSIS_SWEEP_EVERY_S", "30") or 30),
        audit_reads_wait_for_flush=_bool("AUDIT_READS_WAIT_FOR_FLUSH", False, problems),
        dicomweb_frame_cache_mb=_non_negative_int("DICOMWEB_PROXY_FRAME_CACHE_MB", 256, problems),
        report_release_policy=os.environ.get("REPORT_RELEASE_POLICY", "held").strip().lower() or "held",
        webrtc_ice_servers=_ice_servers("WEBRTC_ICE_SERVERS", problems),
        worker_warm_models=_list("WORKER_WARM_MODELS", []),
        problems=problems,
    )


ENV = env_read()
