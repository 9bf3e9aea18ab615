"""``scripts/web_serve.py``: several Daphne processes answer on one port, and all stop together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

APP = '''
import os

async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_workers_share_the_port_and_stop_with_the_launcher(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(APP)
    port = _free_port()
    launcher = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "web_serve.py"), "--workers", "2", "--port", str(port), "pid_app:application"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    try:
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(answered) < 2:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    answered.add(response.read().decode())
            except OSError:
                time.sleep(0.2)
        workers = _children(launcher.pid)
        assert len(workers) == 2
        assert answered and answered <= {str(pid) for pid in workers}
    finally:
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_worker_that_dies_stops_the_others(tmp_path: Path) -> None:
    (tmp_path / "pid_app.py").write_text(APP)
    port = _free_port()
    launcher = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "web_serve.py"), "--workers", "2", "--port", str(port), "pid_app:application"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_children(launcher.pid)) < 2:
            time.sleep(0.1)
        workers = _children(launcher.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        assert launcher.wait(timeout=30) == 1
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert not Path(f"/proc/{workers[1]}").exists() or "zombie" in Path(f"/proc/{workers[1]}/status").read_text()
