"""Real services for integration tests: a Celery worker process on both queues."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_worker() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="cdss.settings.test",
        DATABASE_URL=database_url_for_worker(),
        REDIS_URL=settings.REDIS_URL,
        DICOMWEB_URL=settings.DICOMWEB_URL,
        DICOMWEB_USERNAME=settings.DICOMWEB_USERNAME or "",
        DICOMWEB_PASSWORD=settings.DICOMWEB_PASSWORD or "",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def wait_for_queues(timeout: float = 60.0, *, same_address: bool = True) -> None:
    """Until a worker consumes every queue. A worker given its own DATABASE_URL (the same
    database through a TCP proxy, to cut it off) reports another address, which /readyz rightly
    flags; such a test waits for the queues alone."""
    from cdss.core.readiness import workers_probe

    deadline = time.monotonic() + timeout
    problem: str | None = "not probed"
    while time.monotonic() < deadline:
        problem = workers_probe()
        if problem is None or (not same_address and problem.startswith("worker on another database")):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Celery worker did not come up on both queues: {problem}")


class WorkerProcess:
    def __init__(self, log_path: Path, *, beat: bool = False, **env: str) -> None:
        self.log_path = log_path
        self.env = env
        self.beat = beat
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "cdss", "worker", "-Q", ",".join(settings.CDSS_QUEUES),
                 "-c", "1", "--pool", "prefork", "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                 "--without-gossip", "--without-mingle", "-l", "INFO",
                 *(["-B", "-s", str(self.log_path.with_suffix(".beat"))] if self.beat else [])],
                cwd=ROOT, env=worker_env(**self.env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if "REDIS_URL" not in self.env:
            wait_for_queues(same_address="DATABASE_URL" not in self.env)

    def stop(self) -> None:
        """Warm shutdown; then make sure nothing of the worker's process group outlives the test."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # orphaned pool children, if any

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def celery_worker_process(transactional_db: Any, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real worker (separate OS process) reading the same test database."""
    worker = WorkerProcess(tmp_path / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A Redis of the test's own (no persistence, like the machines' own), to stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (scripts/bootstrap.sh installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
