"""Serve the ASGI application with several Daphne processes on one port.

Run: ``.venv/bin/python scripts/web_serve.py [--workers 2] [--bind 127.0.0.1] [--port 8000]
[cdss.asgi:application]``

Daphne is one process, and Python runs one thread at a time in it: on a machine with two or
more cores one process leaves the others to the database and the workers. This opens the
listening socket once and starts ``--workers`` Daphne processes on it (``daphne --fd``); the
kernel hands each new connection to one of them. WebSocket events reach every process through
the Redis channel layer; caches (DICOMweb access and frames) are per process.

TERM or INT stops every worker and then this process; if a worker exits on its own, the
others are stopped and this process exits with a non-zero status.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

DAPHNE = str(Path(sys.executable).parent / "daphne")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("app", nargs="?", default="cdss.asgi:application")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    listener = socket.create_server((args.bind, args.port), backlog=1024)
    fd = listener.fileno()
    workers = [subprocess.Popen([DAPHNE, "--fd", str(fd), args.app], pass_fds=(fd,)) for _ in range(args.workers)]
    listener.close()  # the workers hold it
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"web_serve: {args.workers} Daphne process(es) on http://{args.bind}:{args.port}/ "
          f"(pids {' '.join(str(w.pid) for w in workers)})", flush=True)
    status = 0
    running = {w.pid: w for w in workers}
    while running:
        pid, code = os.wait()
        worker = running.pop(pid, None)
        if worker is None:
            continue
        worker.returncode = os.waitstatus_to_exitcode(code)
        if not stopping:
            print(f"web_serve: worker {pid} exited ({worker.returncode}); stopping the others", file=sys.stderr, flush=True)
            status = 1
            stop(signal.SIGTERM, None)
    return status


if __name__ == "__main__":
    sys.exit(main())
