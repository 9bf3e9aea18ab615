#!/usr/bin/env python3
"""Configure, start and stop the project's own Orthanc (the PACS) on loopback.

Hardening (Debian's Orthanc 1.10.1 has known vulnerabilities, so it must only ever be reached
through the Django DICOMweb proxy): HTTP answers loopback clients only, authentication on with a
generated credential stored with mode 0600, DICOMweb on (WADO-URI off), WebDAV, Orthanc
Explorer, Lua (scripts and the REST endpoint), writing to the file system, HTTP compression,
metrics and the DICOM (C-STORE/C-FIND) port off, no peers or modalities (so the REST API cannot
be turned into a relay), find results limited, request timeout set, storage under var/.

Orthanc 1.10 has no option to bind its HTTP port to one address: it listens on every interface
and refuses any client that is not on loopback (``RemoteAccessAllowed: false``, checked before
authentication). On a machine reachable from a network, also block the port in the host
firewall.

    scripts/orthanc.py start   [--name demo] [--port 8042]
    scripts/orthanc.py stop    [--name demo]
    scripts/orthanc.py restart [--name demo] [--port 8042]  # apply a changed configuration
    scripts/orthanc.py status  [--name demo] [--port 8042]  # exit 0 if running and answering
    scripts/orthanc.py config  [--name demo] [--port 8042]  # write the config only
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def instance_dir(name: str) -> Path:
    base = Path(os.environ.get("CDSS_DATA_DIR", ROOT / "var"))
    return base / ("orthanc" if name == "demo" else f"orthanc-{name}")


def credentials(directory: Path) -> dict[str, str]:
    path = directory / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    stored = {"username": "cdss", "password": secrets.token_urlsafe(32)}
    # Create with 0600 from the start so the secret is never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle)
    return stored


def orthanc_config(directory: Path, port: int, creds: dict[str, str]) -> dict[str, object]:
    return {
        "Name": "cdss-pacs",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "StorageCompression": False,
        "Plugins": [PLUGIN],
        "HttpServerEnabled": True,
        "HttpPort": port,
        "RemoteAccessAllowed": False,  # answers loopback clients only (see the module docstring)
        "AuthenticationEnabled": True,
        "RegisteredUsers": {creds["username"]: creds["password"]},
        "SslEnabled": False,
        "HttpDescribeErrors": False,
        "HttpCompressionEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "WebDavDeleteAllowed": False,
        "WebDavUploadAllowed": False,
        "DicomServerEnabled": False,  # no C-STORE/C-FIND port at all
        "DicomPort": 0,
        "DicomModalities": {},
        "DicomModalitiesInDatabase": False,  # the REST API cannot add one either
        "OrthancPeers": {},
        "OrthancPeersInDatabase": False,
        "HttpProxy": "",
        "HttpsVerifyPeers": True,
        "HttpVerbose": False,
        "HttpRequestTimeout": 60,
        "LuaScripts": [],
        "ExecuteLuaEnabled": False,
        "RestApiWriteToFileSystemEnabled": False,
        "LimitFindResults": 500,
        "LimitFindInstances": 500,
        "QueryRetrieveSize": 100,
        "MetricsEnabled": False,
        "DeidentifyLogs": True,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "HttpThreadsCount": 50,
        "OverwriteInstances": True,
        "StableAge": 5,
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": False,  # no WADO-URI: the proxy serves WADO-RS only
            "Servers": {},  # no outgoing DICOMweb peers
            "Host": f"127.0.0.1:{port}",
            "Ssl": False,
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }


def write_config(name: str, port: int) -> Path:
    directory = instance_dir(name)
    creds = credentials(directory)
    (directory / "storage").mkdir(parents=True, exist_ok=True)
    (directory / "index").mkdir(parents=True, exist_ok=True)
    path = directory / "orthanc.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(orthanc_config(directory, port, creds), handle, indent=2)
    os.chmod(path, 0o600)
    return path


def config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def answering(port: int, creds: dict[str, str]) -> bool:
    token = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/dicom-web/studies?limit=1",
        headers={"Authorization": f"Basic {token}", "Accept": "application/dicom+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status in (200, 204)
    except (urllib.error.URLError, OSError):
        return False


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(name: str, port: int) -> int:
    if not Path("/usr/sbin/Orthanc").exists() or not Path(PLUGIN).exists():
        print("orthanc: Debian packages orthanc and orthanc-dicomweb are not installed", file=sys.stderr)
        return 2
    config = write_config(name, port)
    directory = config.parent
    creds = credentials(directory)
    pid_file = directory / "orthanc.pid"
    started_with = directory / "orthanc.started"
    if pid_alive(pid_file) and answering(port, creds):
        if not started_with.exists() or started_with.read_text() != config_digest(config):
            print(f"orthanc[{name}]: running with an older configuration; "
                  f"`scripts/orthanc.py restart --name {name} --port {port}` applies the new one", file=sys.stderr)
        print(f"orthanc[{name}]: already running on 127.0.0.1:{port}")
        return 0
    log = open(directory / "orthanc.log", "ab")  # noqa: SIM115  (handed to the child)
    process = subprocess.Popen(
        ["/usr/sbin/Orthanc", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the shell that started it; `stop` ends it
    )
    pid_file.write_text(str(process.pid))
    started_with.write_text(config_digest(config))
    for _ in range(150):
        if answering(port, creds):
            print(f"orthanc[{name}]: running on 127.0.0.1:{port} (pid {process.pid})")
            return 0
        if process.poll() is not None:
            break
        time.sleep(0.2)
    print(f"orthanc[{name}]: did not start; see {directory / 'orthanc.log'}", file=sys.stderr)
    return 1


def stop(name: str) -> int:
    pid_file = instance_dir(name) / "orthanc.pid"
    pid = pid_alive(pid_file)
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if pid_alive(pid_file) is None:
            break
        time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return 0


def status(name: str, port: int) -> int:
    directory = instance_dir(name)
    pid = pid_alive(directory / "orthanc.pid")
    if pid is None:
        print(f"orthanc[{name}]: not running")
        return 3
    creds_path = directory / "credentials.json"
    if not creds_path.exists() or not answering(port, json.loads(creds_path.read_text())):
        print(f"orthanc[{name}]: process {pid} is not answering on 127.0.0.1:{port}")
        return 1
    print(f"orthanc[{name}]: running on 127.0.0.1:{port} (pid {pid})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["start", "stop", "restart", "status", "config"])
    parser.add_argument("--name", default="demo")
    parser.add_argument("--port", type=int, default=8042)
    args = parser.parse_args()
    if args.action == "start":
        return start(args.name, args.port)
    if args.action == "stop":
        return stop(args.name)
    if args.action == "restart":
        stop(args.name)
        return start(args.name, args.port)
    if args.action == "status":
        return status(args.name, args.port)
    print(write_config(args.name, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
