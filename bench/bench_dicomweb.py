"""Benchmark: WADO-RS through the Django DICOMweb proxy against Orthanc directly, side by side.

Run: ``.venv/bin/python bench/bench_dicomweb.py [--slices 120] [--duration 10] [--connections 8]
[--rounds 2] [--database-url postgres://postgres@127.0.0.1:5432/cdss_bench]``

What it does, all in one run and torn down at the end:

1. starts its own Orthanc (``scripts/orthanc.py``, name ``bench``, a free port, storage in a
   temporary directory) and stores one synthetic CT series there: ``--slices`` instances of
   512 x 512 x 16 bit (uncompressed, 512 KiB of pixels each), made with pydicom;
2. prepares a Django database (a temporary SQLite file unless ``--database-url``), a clinician
   with an API token, a patient whose MRN is the series' PatientID, and the study's link;
3. starts the app under Daphne three times, each on a free port: ``cdss.asgi:django_asgi_app``
   (Django alone: every request through the view, ``imaging.dicomweb.proxy``),
   ``cdss.asgi:application`` (the app as deployed: the ASGI fast lane in front of Django serves
   repeat binary reads of a study Django has just allowed, ``imaging.dicomweb.asgi``, and keeps
   whole frames in its memory cache, ``imaging.dicomweb.frame_cache``, filled on the first pass
   through the series), and the same with the frame cache off (every frame relayed);
4. runs ``wrk`` (a Lua script adds the Authorization header and walks the frame URLs of every
   slice) against Orthanc directly and through each, alternating, ``--rounds`` times each.
   Orthanc serves from its own storage cache (128 MB by default) once the series was read;
5. times the series metadata (WADO-RS ``.../metadata``) ``--metadata-runs`` times each way.

Prints frames/s and MB/s for each path, and the ratios: proxy/direct frames/s (target >= 0.8)
and proxy/direct metadata time (target <= 1.2). Everything runs on the same machine as wrk, so
on a small machine all of it shares the CPU cores; the figures are for comparing the paths.
It also prints the CPU time per frame of Orthanc and of the Daphne process (from /proc): unlike
frames/s, that hardly depends on what else the machine runs, and on a machine whose cores are
all busy the frame ratio is about Orthanc's CPU per frame over the sum of both.

``BenchStack`` and ``bench_stack`` (Orthanc with the series, a migrated database, Daphne
servers) are shared with ``bench_viewer.py``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MRN = "BENCH-0001"
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

WRK_LUA = r"""
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local auth = os.getenv("BENCH_AUTH")
local accept = os.getenv("BENCH_ACCEPT")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 37)
end

function init(args)
  index = offset or 0
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index], {["Authorization"] = auth, ["Accept"] = accept})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.bytes, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50)))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ct_series(slices: int) -> tuple[str, str, list[Dataset]]:
    study, series = generate_uid(), generate_uid()
    rng = np.random.default_rng(7)
    datasets = []
    for n in range(slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientID, ds.PatientName, ds.Modality = MRN, "Bench^Synthetic", "CT"
        ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20250101", 1, n + 1
        ds.ImagePositionPatient = [-250.0, -250.0, -1.5 * n]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [0.977, 0.977], 1.5
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = rng.integers(0, 2500, size=(512, 512), dtype=np.uint16).tobytes()
        datasets.append(ds)
    return study, series, datasets


def stow(base: str, auth: tuple[str, str], datasets: list[Dataset]) -> None:
    boundary = "bench-boundary"
    for start in range(0, len(datasets), 20):
        parts = []
        for ds in datasets[start : start + 20]:
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + buffer.getvalue() + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        response = requests.post(
            f"{base}/dicom-web/studies", data=body, auth=auth, timeout=300,
            headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
        )
        response.raise_for_status()


def wait_http(url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


_USER_SETUP = """
import os
from rest_framework.authtoken.models import Token
from cdss.accounts.models import CareTeam, Role, User
from imaging.models import ImagingStudy, LinkSource
from patients.models import Patient
user, _ = User.objects.get_or_create(username="bench-clinician", defaults={"role": Role.CLINICIAN})
if os.environ.get("BENCH_PASSWORD"):
    user.set_password(os.environ["BENCH_PASSWORD"])
    user.save()
team, _ = CareTeam.objects.get_or_create(name="Bench team")
team.members.add(user)
patient, _ = Patient.objects.get_or_create(mrn=os.environ["BENCH_MRN"], defaults={"given_name": "Bench",
    "family_name": "Synthetic", "birth_date": "1960-01-01", "sex": "male", "care_team": team})
ImagingStudy.objects.get_or_create(study_instance_uid=os.environ["BENCH_STUDY"], defaults={"patient": patient,
    "link_source": LinkSource.IMPORT, "dicom_patient_id": os.environ["BENCH_MRN"]})
print("TOKEN", Token.objects.get_or_create(user=user)[0].key, "PATIENT", patient.pk)
"""


@dataclass
class BenchStack:
    """One benchmark's own Orthanc (with the synthetic series), database and app servers."""

    tmp: Path
    pacs: str
    pacs_auth: tuple[str, str]
    env: dict[str, str]
    study: str
    series: str
    sops: list[str]
    orthanc_pid: int
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pacs_basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.pacs_auth[0]}:{self.pacs_auth[1]}".encode()).decode()

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run([PYTHON, "manage.py", *args], env={**self.env, **(env or {})}, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    def clinician(self, password: str | None = None) -> tuple[str, int]:
        """The clinician (with ``password`` if given) whose patient the series belongs to: (API token, patient id)."""
        out = self.manage("shell", "-c", _USER_SETUP,
                          env={"BENCH_MRN": MRN, "BENCH_STUDY": self.study, "BENCH_PASSWORD": password or ""})
        match = re.search(r"TOKEN (\w+) PATIENT (\d+)", out)
        if not match:
            raise RuntimeError(f"user set-up said:\n{out}")
        return match.group(1), int(match.group(2))

    def daphne(self, app: str, **extra_env: str) -> str:
        """Start Daphne serving ``app`` on a free port; returns its base URL once it answers."""
        port = free_port()
        server = subprocess.Popen(
            [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), app],
            env={**self.env, **extra_env}, cwd=ROOT, stdout=(self.tmp / f"daphne-{port}.log").open("wb"), stderr=subprocess.STDOUT,
        )
        self.servers.append(server)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", process=server)
        return url


@contextlib.contextmanager
def bench_stack(*, name: str, slices: int, database_url: str | None, keep: bool,
                extra_env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    """Orthanc ``name`` on a free port holding a synthetic ``slices``-slice CT, a migrated
    database (a temporary SQLite file unless ``database_url``), and an environment for the app;
    everything (servers, Orthanc, the temporary directory unless ``keep``) goes at the end."""
    tmp = Path(tempfile.mkdtemp(prefix=f"cdss-{name}-"))
    base_env = dict(os.environ, CDSS_DATA_DIR=str(tmp))
    stack: BenchStack | None = None
    try:
        orthanc_port = free_port()
        subprocess.run([PYTHON, str(ROOT / "scripts" / "orthanc.py"), "start", "--name", name, "--port", str(orthanc_port)],
                       env=base_env, check=True)
        creds = json.loads((tmp / f"orthanc-{name}" / "credentials.json").read_text())
        pacs_auth = (creds["username"], creds["password"])
        pacs = f"http://127.0.0.1:{orthanc_port}"
        study, series, datasets = ct_series(slices)
        stow(pacs, pacs_auth, datasets)
        sops = [str(ds.SOPInstanceUID) for ds in datasets]
        del datasets
        env = dict(
            base_env,
            DJANGO_SETTINGS_MODULE="cdss.settings.dev",
            SECRET_KEY="bench-only-" + base64.b16encode(os.urandom(16)).decode(),
            DEBUG="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
            DICOMWEB_URL=f"{pacs}/dicom-web",
            DICOMWEB_USERNAME=pacs_auth[0],
            DICOMWEB_PASSWORD=pacs_auth[1],
            LOG_LEVEL="WARNING",
            **(extra_env or {}),
        )
        orthanc_pid = int((tmp / f"orthanc-{name}" / "orthanc.pid").read_text())
        stack = BenchStack(tmp=tmp, pacs=pacs, pacs_auth=pacs_auth, env=env, study=study, series=series, sops=sops,
                           orthanc_pid=orthanc_pid)
        if database_url and database_url.startswith("postgres"):
            subprocess.run([PYTHON, str(ROOT / "scripts" / "pg_ensure_db.py")], env=env, cwd=ROOT, check=True)
        stack.manage("migrate", "--noinput", "-v", "0")
        yield stack
    finally:
        for server in stack.servers if stack else []:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        subprocess.run([PYTHON, str(ROOT / "scripts" / "orthanc.py"), "stop", "--name", name], env=base_env, check=False)
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, auth_header: str, paths_file: Path, lua: Path, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, BENCH_PATHS=str(paths_file), BENCH_AUTH=auth_header, BENCH_ACCEPT=FRAME_ACCEPT)
    out = subprocess.run(
        ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "10s",
         "-s", str(lua), url],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    requests_done, body_bytes, duration_us, bad_status, socket_errors, p50_us = (int(g) for g in match.groups())
    seconds = duration_us / 1e6
    return {
        "frames_per_s": requests_done / seconds,
        "mb_per_s": body_bytes / seconds / 1e6,
        "requests": requests_done,
        "errors": bad_status + socket_errors,
        "p50_ms": p50_us / 1000,
    }


def time_metadata(url: str, headers: dict[str, str], runs: int) -> tuple[float, int]:
    session = requests.Session()
    session.trust_env = False
    size = 0
    times = []
    for _ in range(runs + 1):  # the first warms caches on both paths and is not counted
        start = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        response.raise_for_status()
        size = len(response.content)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternating direct/proxy rounds")
    parser.add_argument("--metadata-runs", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    with bench_stack(name="bench", slices=args.slices, database_url=args.database_url, keep=args.keep) as stack:
        return _measure(stack, args)


def _measure(stack: BenchStack, args: argparse.Namespace) -> int:
    token, _patient = stack.clinician()
    # Django's own handler (every request through the view) and the app as deployed
    # (cdss.asgi: the ASGI fast lane in front of Django).
    web = stack.daphne("cdss.asgi:django_asgi_app")
    lane = stack.daphne("cdss.asgi:application")
    # The same, with the lane's frame cache off: every frame relayed from the PACS.
    relay = stack.daphne("cdss.asgi:application", DICOMWEB_PROXY_FRAME_CACHE_MB="0")
    pacs, study, series = stack.pacs, stack.study, stack.series
    tmp = stack.tmp

    frame_paths = [f"/studies/{study}/series/{series}/instances/{sop}/frames/1" for sop in stack.sops]
    direct_paths, proxy_paths = tmp / "direct.txt", tmp / "proxy.txt"
    direct_paths.write_text("\n".join(f"/dicom-web{p}" for p in frame_paths) + "\n")
    proxy_paths.write_text("\n".join(f"/dicomweb{p}" for p in frame_paths) + "\n")
    lua = tmp / "frames.lua"
    lua.write_text(WRK_LUA)
    basic = stack.pacs_basic
    token_header = f"Token {token}"

    # Both paths must answer correctly before anything is timed.
    check_direct = requests.get(pacs + "/dicom-web" + frame_paths[0], headers={"Authorization": basic, "Accept": FRAME_ACCEPT}, timeout=30)
    for base in (web, lane, lane, lane, relay, relay):  # the lane's second request is served by the lane itself, the third from its cache
        check_proxy = requests.get(base + "/dicomweb" + frame_paths[0], headers={"Authorization": token_header, "Accept": FRAME_ACCEPT}, timeout=30)
        assert check_direct.status_code == check_proxy.status_code == 200, (check_direct.status_code, check_proxy.status_code, check_proxy.text[:200])
        assert check_direct.content.split(b"\r\n\r\n", 1)[1][:4096] == check_proxy.content.split(b"\r\n\r\n", 1)[1][:4096]

    print(f"series: {args.slices} slices x 512x512x16 bit; wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
          f"database {stack.env['DATABASE_URL'].split(':', 1)[0]}; {os.cpu_count()} CPU cores")
    results: dict[str, list[dict[str, float]]] = {"direct": [], "proxy": [], "lane": [], "relay": []}
    server_pids = {"direct": None, "proxy": stack.servers[0].pid, "lane": stack.servers[1].pid, "relay": stack.servers[2].pid}
    for round_no in range(args.rounds):
        for name, url, header, paths in (("direct", pacs, basic, direct_paths), ("proxy", web, token_header, proxy_paths),
                                         ("lane", lane, token_header, proxy_paths), ("relay", relay, token_header, proxy_paths)):
            pid = server_pids[name]
            orthanc_before, server_before = cpu_seconds(stack.orthanc_pid), cpu_seconds(pid) if pid else 0.0
            result = run_wrk(url, header, paths, lua, args)
            frames = max(1.0, result["requests"])
            result["orthanc_ms"] = 1000 * (cpu_seconds(stack.orthanc_pid) - orthanc_before) / frames
            result["server_ms"] = 1000 * (cpu_seconds(pid) - server_before) / frames if pid else 0.0
            results[name].append(result)
            print(f"  round {round_no + 1} {name:<6} {result['frames_per_s']:8.1f} frames/s {result['mb_per_s']:8.1f} MB/s "
                  f"p50 {result['p50_ms']:6.1f} ms  errors {int(result['errors'])}  CPU per frame: Orthanc "
                  f"{result['orthanc_ms']:.2f} ms" + (f", Daphne {result['server_ms']:.2f} ms" if pid else ""))

    meta_path = f"/studies/{study}/series/{series}/metadata"
    json_accept = "application/dicom+json"
    direct_meta, direct_size = time_metadata(pacs + "/dicom-web" + meta_path, {"Authorization": basic, "Accept": json_accept}, args.metadata_runs)
    proxy_meta, proxy_size = time_metadata(web + "/dicomweb" + meta_path, {"Authorization": token_header, "Accept": json_accept}, args.metadata_runs)
    lane_meta, _size = time_metadata(lane + "/dicomweb" + meta_path, {"Authorization": token_header, "Accept": json_accept}, args.metadata_runs)

    def best(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    direct_fps, direct_mbs = best("direct", "frames_per_s"), best("direct", "mb_per_s")
    print()
    print("medians of the rounds; ratio = proxy / direct")
    print(f"{'':<30}{'frames/s':>10}{'MB/s':>10}{'ratio':>8}  target >= 0.80   CPU ms/frame: Orthanc, Daphne")
    print(f"{'Orthanc directly':<30}{direct_fps:>10.1f}{direct_mbs:>10.1f}{'':>8}  {'':<15}  {best('direct', 'orthanc_ms'):.2f}")
    for name, label in (("proxy", "proxy, Django view only"), ("lane", "proxy as deployed (lane)"),
                        ("relay", "lane, frame cache off")):
        ratio = best(name, "frames_per_s") / direct_fps
        print(f"{label:<30}{best(name, 'frames_per_s'):>10.1f}{best(name, 'mb_per_s'):>10.1f}{ratio:>8.2f}  "
              f"{'OK' if ratio >= 0.8 else 'MISSED':<15}  {best(name, 'orthanc_ms'):.2f}, {best(name, 'server_ms'):.2f}")
    print()
    print(f"{'series metadata, median':<30}{'seconds':>10}{'bytes':>10}{'ratio':>8}  target <= 1.20")
    print(f"{'Orthanc directly':<30}{direct_meta:>10.3f}{direct_size:>10}")
    for label, seconds in (("proxy, Django view only", proxy_meta), ("proxy as deployed (lane)", lane_meta)):
        ratio = seconds / direct_meta
        print(f"{label:<30}{seconds:>10.3f}{proxy_size:>10}{ratio:>8.2f}  {'OK' if ratio <= 1.2 else 'MISSED'}")
    errors = sum(int(r["errors"]) for rs in results.values() for r in rs)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
