"""Browser tests: the real app under Daphne (HTTP + WebSocket) against the pytest database,
driven by Debian's Chromium through Playwright. Every page visited is saved as a screenshot
under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.factories import TEST_PASSWORD
from tests.integration.conftest import celery_worker_process, worker_env

__all__ = ["celery_worker_process"]  # a real Celery worker for the analysis tests

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("daphne did not answer /healthz in time")


@dataclass
class LiveServer:
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def daphne_server(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Daphne serving cdss.asgi on a free loopback port, reading the test database."""
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        pytest.fail("frontend/dist is missing: run scripts/bootstrap.sh (it builds the front end)")
    with django_db_blocker.unblock():
        env = worker_env()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "cdss.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        _wait_http(f"{server.url}/healthz", process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def live(transactional_db: Any, daphne_server: LiveServer) -> LiveServer:
    return daphne_server


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium for one test. Playwright's sync API keeps an event loop on this thread while
    it runs, so it is closed before the test database is flushed; database work during the
    test goes through ``tests.browser.data.off_loop``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class Session:
    """One logged-in browser context with screenshot and error bookkeeping."""

    page: Any
    base: str
    name: str
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    shots: int = 0

    def allow_errors(self, pattern: str) -> None:
        """Browser errors this test provokes on purpose (e.g. sockets failing while offline)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")

    def snap(self, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


@pytest.fixture
def open_session(live: LiveServer, browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Session]]:
    """Log a user in through the real login page; returns a Session on the page it lands on."""
    contexts: list[Any] = []
    sessions: list[Session] = []

    def start(user: Any, *, viewport: tuple[int, int] = (1366, 900), label: str | None = None) -> Session:
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="en-GB")
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        session = Session(page=page, base=live.url, name=_safe(f"{request.node.name}-{label or user.role}"))
        page.on("pageerror", lambda error: session.errors.append(f"pageerror: {error}"))
        page.on("console", lambda message: session.console.append(f"{message.type}: {message.text}"))
        page.on("console", lambda message: session.errors.append(f"console: {message.text}") if message.type == "error" and "Failed to load resource" not in message.text else None)
        page.goto(f"{live.url}/login/")
        session.snap("login")
        page.fill("#id_username", user.username)
        page.fill("#id_password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        page.wait_for_selector("#main")
        sessions.append(session)
        return session

    yield start
    for context in contexts:
        context.close()
    problems = [e for s in sessions for e in s.unexpected_errors()]
    assert not problems, "browser errors:\n" + "\n".join(problems) + "\n--- server log ---\n" + live.log_text()[-4000:]
