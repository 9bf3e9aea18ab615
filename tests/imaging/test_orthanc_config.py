"""The project's Orthanc (scripts/orthanc.py): every hardening setting, and how it behaves.

Behaviour is checked on an Orthanc of this test's own, started by the script from the config it
generates (so the test sees exactly what ``start`` runs), on a free port with its storage in the
test's temporary directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "orthanc.py"


def orthanc_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cdss_orthanc_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def own_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, tuple[str, str], Path]]:
    data = tmp_path_factory.mktemp("orthanc-config")
    port = free_port()
    env = dict(os.environ, CDSS_DATA_DIR=str(data))
    subprocess.run([sys.executable, str(SCRIPT), "start", "--name", "cfgtest", "--port", str(port)], env=env, check=True,
                   capture_output=True)
    directory = data / "orthanc-cfgtest"
    creds = json.loads((directory / "credentials.json").read_text())
    try:
        yield f"http://127.0.0.1:{port}", (creds["username"], creds["password"]), directory
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "stop", "--name", "cfgtest"], env=env, check=True, capture_output=True)


def test_generated_config_is_hardened(tmp_path: Path) -> None:
    script = orthanc_script()
    config = script.orthanc_config(tmp_path, 8099, {"username": "cdss", "password": "secret-password"})
    expected = {
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"cdss": "secret-password"},
        "HttpDescribeErrors": False,
        "HttpCompressionEnabled": False,
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "WebDavDeleteAllowed": False,
        "WebDavUploadAllowed": False,
        "DicomServerEnabled": False,
        "DicomModalities": {},
        "DicomModalitiesInDatabase": False,
        "OrthancPeers": {},
        "OrthancPeersInDatabase": False,
        "LuaScripts": [],
        "ExecuteLuaEnabled": False,
        "RestApiWriteToFileSystemEnabled": False,
        "MetricsEnabled": False,
        "HttpsVerifyPeers": True,
        "HttpProxy": "",
        "StorageDirectory": str(tmp_path / "storage"),
        "IndexDirectory": str(tmp_path / "index"),
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "HttpPort": 8099,
    }
    for key, value in expected.items():
        assert config[key] == value, key
    assert 0 < config["LimitFindResults"] <= 1000 and 0 < config["LimitFindInstances"] <= 1000
    assert 0 < config["HttpRequestTimeout"] <= 120
    web = config["DicomWeb"]
    assert web["Enable"] is True and web["EnableWado"] is False and web["Servers"] == {}
    assert web["Root"] == "/dicom-web/" and web["Host"] == "127.0.0.1:8099"


@pytest.mark.integration
def test_secrets_are_private(own_orthanc: tuple[str, tuple[str, str], Path]) -> None:
    _url, _auth, directory = own_orthanc
    for name in ("credentials.json", "orthanc.json"):
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert len(json.loads((directory / "credentials.json").read_text())["password"]) >= 32


@pytest.mark.integration
def test_orthanc_behaves_hardened(own_orthanc: tuple[str, tuple[str, str], Path]) -> None:
    url, auth, _directory = own_orthanc
    session = requests.Session()
    session.trust_env = False
    # Authentication is required everywhere.
    for path in ("/system", "/dicom-web/studies", "/instances", "/patients", "/tools/execute-script"):
        assert session.get(url + path, timeout=10).status_code == 401, path
    assert session.get(url + "/dicom-web/studies", auth=(auth[0], "wrong"), timeout=10).status_code == 401
    assert session.get(url + "/dicom-web/studies", auth=auth, timeout=10).status_code == 200
    # Explorer, WADO-URI and WebDAV are off; Lua cannot be run even with the credential.
    assert session.get(url + "/app/explorer.html", auth=auth, timeout=10).status_code == 404
    assert session.get(url + "/wado?requestType=WADO", auth=auth, timeout=10).status_code == 404
    assert session.request("PROPFIND", url + "/webdav/", auth=auth, timeout=10).status_code in (401, 403, 404, 405)
    assert session.post(url + "/tools/execute-script", data="print(1)", auth=auth, timeout=10).status_code == 403
    # No DICOM port is open (the config says 0; nothing answers on the usual 4242 for us).
    system = session.get(url + "/system", auth=auth, timeout=10).json()
    assert system["DicomPort"] == 0 and system["Version"] == "1.10.1"
    assert session.get(url + "/modalities", auth=auth, timeout=10).json() == []
    assert session.get(url + "/peers", auth=auth, timeout=10).json() == []


@pytest.mark.integration
def test_orthanc_refuses_clients_not_on_loopback(own_orthanc: tuple[str, tuple[str, str], Path]) -> None:
    """Orthanc 1.10 listens on every interface; a client from another address is refused."""
    url, auth, _directory = own_orthanc
    port = url.rsplit(":", 1)[1]
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    external = next((a for a in addresses if ":" not in a and not a.startswith("127.")), None)
    assert external, "this machine has no non-loopback IPv4 address to test from"
    answer = requests.get(f"http://{external}:{port}/dicom-web/studies", auth=auth, timeout=10)
    assert answer.status_code in (401, 403)


@pytest.mark.integration
def test_script_status_and_restart(own_orthanc: tuple[str, tuple[str, str], Path]) -> None:
    url, _auth, directory = own_orthanc
    port = url.rsplit(":", 1)[1]
    env = dict(os.environ, CDSS_DATA_DIR=str(directory.parent))
    run = [sys.executable, str(SCRIPT)]
    assert subprocess.run([*run, "status", "--name", "cfgtest", "--port", port], env=env, capture_output=True).returncode == 0
    restarted = subprocess.run([*run, "restart", "--name", "cfgtest", "--port", port], env=env, capture_output=True, text=True)
    assert restarted.returncode == 0 and "running on" in restarted.stdout
    assert subprocess.run([*run, "status", "--name", "nothing-here", "--port", port], env=env, capture_output=True).returncode == 3
