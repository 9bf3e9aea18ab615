"""Benchmark: time to first image in the Cornerstone3D viewer for a 100+-slice CT, in Chromium.

Run (from the repository root, with the front end built: ``cd frontend && npm run build``)::

    .venv/bin/python bench/bench_viewer.py [--slices 120] [--runs 7] [--database-url URL] [--keep]
        [--baseline-rev REV [--baseline-dist DIR]]

Needs Debian's Chromium (``/usr/bin/chromium``), Playwright for Python (the dev extras) and
Redis on ``REDIS_URL`` (the portal opens its WebSocket); nothing of the Vite dev server. What it
does, all in one run and torn down at the end:

1. the same stack as ``bench_dicomweb.py``: its own Orthanc (``scripts/orthanc.py``, name
   ``bench-viewer``, a free port, storage in a temporary directory) holding one synthetic CT of
   ``--slices`` 512 x 512 x 16 bit slices; a fresh database (a temporary SQLite file unless
   ``--database-url``) with a clinician, a patient whose MRN is the series' PatientID, and the
   study's link;
2. the full stack as deployed: ``manage.py collectstatic`` of ``frontend/dist`` into the
   temporary directory, and ``cdss.asgi:application`` (Django, whitenoise for the static files,
   the DICOMweb proxy with its ASGI fast lane, Channels) under Daphne on a free port, with
   DEBUG off;
3. per run, a fresh Chromium context (no cookies, no HTTP cache: the cache is also cleared over
   the DevTools protocol after signing in through the real login page), then navigation to the
   study page ``/studies/<uid>?patient=<id>``: the cold figures (a first visit); then the same
   page again in the same context: the warm figures (the app's code in the HTTP cache, as when a
   reader opens the next study). The viewer sets the User Timing marks ``cdss:first-image``
   (the first render of the viewport after the slice it shows has its pixels) and
   ``cdss:volume-loaded`` (every slice is in, as MPR needs; frontend/src/viewer/studyViewer.ts);
   their ``startTime`` is milliseconds since navigation start. The series list (QIDO-RS) and the
   series metadata requests are read from Resource Timing: when they went out and when their
   answer was in. The canvas is checked to be not blank (grey levels spread out) at the first
   image;
4. the baselines, in the same Chromium, another fresh context per run each: ``fetch()`` the
   series metadata and then one frame (the middle slice, which the viewer shows first) from a
   page of the app, through the proxy (the access check and the audit included), and the same
   from a page of Orthanc itself (HTTP basic auth, no proxy). The first is the least the viewer
   must wait for once its code runs; the ratio of the two is the proxy's cost.

With ``--baseline-rev``, the front end of another revision is measured side by side with the
working tree's, on the same Orthanc and database: the revision's tree (``git archive``) with its
front end built there (``node_modules`` linked from ``frontend/``), or copied from
``--baseline-dist`` (a build of that revision), served by a second Daphne started in that tree.
Each run then visits both, alternately.

One run of each is made first and not counted (Orthanc's and the OS's caches, Daphne's first
requests); its first image is printed as the first visit after the server started. Prints p50
and p95 of each figure with its baseline, the ratio and the target of issue 23. Prints, never
asserts: the figures depend on the machine and on what else it runs.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dicomweb import FRAME_ACCEPT, PYTHON, ROOT, BenchStack, bench_stack, free_port, wait_http

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 900}
FIRST_IMAGE = "cdss:first-image"
SERIES_METADATA = "cdss:series-metadata"
VOLUME_LOADED = "cdss:volume-loaded"

# The axial viewport's canvas: spread of grey levels (a blank or flat canvas has none).
CANVAS_SPREAD = """() => {
  const canvas = document.querySelector('#vp-axial canvas');
  if (!canvas) return null;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const { width, height } = canvas;
  const data = ctx.getImageData(0, 0, width, height).data;
  let sum = 0, sum2 = 0, n = 0;
  for (let i = 0; i < data.length; i += 16) {
    const lum = (data[i] + data[i + 1] + data[i + 2]) / 3;
    sum += lum; sum2 += lum * lum; n += 1;
  }
  const mean = sum / n;
  return { width, height, mean, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}"""

# What the viewer measured, the frames it had fetched by its first image, and when its first
# requests went out and came back (Resource Timing; milliseconds since navigation start).
VIEWER_TIMES = r"""([first, metadata, study, series]) => {
  const mark = (name) => performance.getEntriesByName(name, 'mark')[0]?.startTime ?? null;
  const firstImage = mark(first);
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const frames = resources.filter((r) => r.name.includes('/frames/'));
  const one = (test) => {
    const entry = resources.find((r) => test(new URL(r.name).pathname));
    return entry ? { start: entry.startTime, end: entry.responseEnd } : null;
  };
  return {
    firstImage, metadataMark: mark(metadata),
    domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
    viewerChunk: one((path) => /\/assets\/viewer-[^/]*\.js$/.test(path)),
    seriesList: one((path) => path.endsWith(`/dicomweb/studies/${study}/series`)),
    metadata: one((path) => path.endsWith(`/dicomweb/studies/${study}/series/${series}/metadata`)),
    firstFrameEnd: frames.length ? Math.min(...frames.map((r) => r.responseEnd)) : null,
    firstFrameStart: frames.length ? Math.min(...frames.map((r) => r.startTime)) : null,
    framesBefore: frames.filter((r) => firstImage !== null && r.responseEnd <= firstImage).length,
  };
}"""

# The baseline: series metadata, then the middle slice's frame, with plain fetch() from a page
# of the server at `root` (the app's proxy, or Orthanc itself).
BASELINE = """async ({ root, study, series, frameAccept, authorization }) => {
  const auth = authorization ? { Authorization: authorization } : {};
  const t0 = performance.now();
  const base = `${root}/studies/${study}/series/${series}`;
  const response = await fetch(`${base}/metadata`, { credentials: 'same-origin', headers: { Accept: 'application/dicom+json', ...auth } });
  if (!response.ok) throw new Error(`metadata HTTP ${response.status}`);
  const items = await response.json();
  const t1 = performance.now();
  const number = (item) => Number(item['00200013']?.Value?.[0] ?? 0);
  items.sort((a, b) => number(a) - number(b));
  const sop = items[Math.floor(items.length / 2)]['00080018'].Value[0];
  const frame = await fetch(`${base}/instances/${sop}/frames/1`, { credentials: 'same-origin', headers: { Accept: frameAccept, ...auth } });
  if (!frame.ok) throw new Error(`frame HTTP ${frame.status}`);
  const bytes = (await frame.arrayBuffer()).byteLength;
  const t2 = performance.now();
  return { metadata: t1 - t0, total: t2 - t0, bytes, instances: items.length };
}"""

# Targets of issue 23 (milliseconds), printed beside the figures.
TARGETS = {"cold": 2000.0, "warm": 1000.0, "metadata": 300.0, "volume": 4000.0, "ratio": 1.3}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with a handful of runs, an observed value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _context(browser: Any, web: str, username: str, password: str) -> tuple[Any, Any]:
    """A fresh context signed in through the login page, with an empty HTTP cache."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{web}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.clearBrowserCache")
    cdp.detach()
    return context, page


def _wait_mark(page: Any, name: str, deadline: float, errors: list[str]) -> None:
    # Polled from here: wait_for_function evaluates a string in the page, which the CSP forbids.
    while not page.evaluate("(name) => performance.getEntriesByName(name, 'mark').length > 0", name):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no mark {name} after 120 s; page errors: {errors}")
        page.wait_for_timeout(50)


def _visit(page: Any, url: str, stack: BenchStack, errors: list[str]) -> dict[str, Any]:
    """Open the study page; the viewer's figures once the whole volume is in."""
    page.goto(url)
    deadline = time.monotonic() + 120
    _wait_mark(page, FIRST_IMAGE, deadline, errors)
    times: dict[str, Any] = page.evaluate(
        VIEWER_TIMES, [FIRST_IMAGE, SERIES_METADATA, stack.study, stack.series]
    )
    times["canvas"] = page.evaluate(CANVAS_SPREAD)
    times["slices"] = page.locator("#vp-axial").get_attribute("data-slice-count")
    _wait_mark(page, VOLUME_LOADED, deadline, errors)
    times["volumeLoaded"] = page.evaluate(
        "(name) => performance.getEntriesByName(name, 'mark')[0].startTime", VOLUME_LOADED
    )
    times["errors"] = list(errors)
    errors.clear()
    return times


def viewer_run(
    browser: Any, web: str, stack: BenchStack, password: str, patient_id: int
) -> dict[str, dict[str, Any]]:
    """A first visit (fresh context, empty HTTP cache) and then a second visit of the same page
    in the same context (the app's code in the HTTP cache, as for a reader opening the next study)."""
    context, page = _context(browser, web, "bench-clinician", password)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    url = f"{web}/studies/{stack.study}?patient={patient_id}"
    try:
        return {"cold": _visit(page, url, stack, errors), "warm": _visit(page, url, stack, errors)}
    finally:
        context.close()


def baseline_run(browser: Any, web: str, stack: BenchStack, password: str) -> dict[str, Any]:
    """Bare fetch() of the metadata and the middle frame through the app's proxy."""
    context, page = _context(browser, web, "bench-clinician", password)
    try:
        page.goto(f"{web}/healthz")  # any page of the app's origin, so that fetch() carries the session
        result: dict[str, Any] = page.evaluate(
            BASELINE,
            {
                "root": "/dicomweb",
                "study": stack.study,
                "series": stack.series,
                "frameAccept": FRAME_ACCEPT,
                "authorization": "",
            },
        )
        return result
    finally:
        context.close()


def direct_run(browser: Any, stack: BenchStack) -> dict[str, Any]:
    """The same bare fetch() from a page of Orthanc itself (HTTP basic auth, no proxy)."""
    context = browser.new_context(
        viewport=VIEWPORT, http_credentials={"username": stack.pacs_auth[0], "password": stack.pacs_auth[1]}
    )
    try:
        page = context.new_page()
        page.goto(f"{stack.pacs}/system")
        # The Authorization header on each fetch(), as the proxy sends it: no 401 challenge first.
        result: dict[str, Any] = page.evaluate(
            BASELINE,
            {
                "root": "/dicom-web",
                "study": stack.study,
                "series": stack.series,
                "frameAccept": FRAME_ACCEPT,
                "authorization": stack.pacs_basic,
            },
        )
        return result
    finally:
        context.close()


def baseline_server(stack: BenchStack, rev: str, dist: Path | None) -> str:
    """The front end of revision ``rev`` (built there, or ``dist``) served by Daphne from that
    revision's tree, on the same Orthanc and database; returns its base URL."""
    tree = stack.tmp / "baseline-tree"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    if dist is not None:
        shutil.copytree(dist, tree / "frontend" / "dist")
    else:
        (tree / "frontend" / "node_modules").symlink_to(ROOT / "frontend" / "node_modules")
        subprocess.run(
            ["flock", "/tmp/frontend-build.lock", "npm", "--prefix", str(tree / "frontend"), "run", "build"],
            check=True,
            capture_output=True,
        )
    # Its own static root (under its data directory); the database and Orthanc are shared.
    env = dict(stack.env, CDSS_DATA_DIR=str(stack.tmp / "baseline-data"))
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env, cwd=tree, check=True
    )
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PYTHON).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "cdss.asgi:application"],
        env=env,
        cwd=tree,
        stdout=(stack.tmp / f"daphne-{port}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stack.servers.append(server)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", process=server)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each measurement")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--baseline-rev", default=None, help="also measure the front end of this git revision, side by side"
    )
    parser.add_argument(
        "--baseline-dist",
        type=Path,
        default=None,
        help="a build of --baseline-rev's front end (else it is built)",
    )
    args = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        print("frontend/dist is missing: cd frontend && npm run build", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    # Playwright is needed only once the bench actually runs.
    from playwright.sync_api import sync_playwright

    password = secrets.token_urlsafe(16)
    with bench_stack(
        name="bench-viewer", slices=args.slices, database_url=args.database_url, keep=args.keep
    ) as stack:
        stack.manage("collectstatic", "--noinput", "-v", "0")
        _token, patient_id = stack.clinician(password=password)
        web = stack.daphne("cdss.asgi:application")
        old_web = baseline_server(stack, args.baseline_rev, args.baseline_dist) if args.baseline_rev else None
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                print(
                    f"series: {args.slices} slices x 512x512x16 bit (uncompressed); Chromium {browser.version} headless, "
                    f"software rendering; database {stack.env['DATABASE_URL'].split(':', 1)[0]}; DEBUG off, collected static files"
                )
                server_cold = viewer_run(browser, web, stack, password, patient_id)["cold"]  # not counted
                if old_web:
                    viewer_run(browser, old_web, stack, password, patient_id)
                baseline_run(browser, web, stack, password)
                direct_run(browser, stack)
                viewer: list[dict[str, dict[str, Any]]] = []
                old: list[dict[str, dict[str, Any]]] = []
                baseline: list[dict[str, Any]] = []
                direct: list[dict[str, Any]] = []
                for run in range(args.runs):
                    # Alternate, so that all see the same conditions on a shared machine.
                    result = viewer_run(browser, web, stack, password, patient_id)
                    viewer.append(result)
                    if old_web:
                        old.append(viewer_run(browser, old_web, stack, password, patient_id))
                    base = baseline_run(browser, web, stack, password)
                    baseline.append(base)
                    bare = direct_run(browser, stack)
                    direct.append(bare)
                    for kind in ("cold", "warm"):
                        print(f"  run {run + 1} {kind}: {_describe(result[kind])}")
                        if old:
                            print(f"  run {run + 1} {kind}, {args.baseline_rev}: {_describe(old[-1][kind])}")
                    print(
                        f"  run {run + 1} baselines: proxy {base['total']:6.0f} ms (metadata {base['metadata']:5.0f} ms), "
                        f"Orthanc direct {bare['total']:6.0f} ms (metadata {bare['metadata']:5.0f} ms)"
                    )
            finally:
                browser.close()
    _summary(args, server_cold, viewer, baseline, direct)
    if old:
        _side_by_side(args.baseline_rev, viewer, old)
    return 0


def _side_by_side(
    rev: str, new: list[dict[str, dict[str, Any]]], old: list[dict[str, dict[str, Any]]]
) -> None:
    print()
    print(f"working tree vs {rev}, same runs (p50, ms; ratio = new / old):")
    for kind in ("warm", "cold"):
        for label, key in (("first image", "firstImage"), ("whole volume", "volumeLoaded")):
            a = percentile([r[kind][key] for r in new], 0.5)
            b = percentile([r[kind][key] for r in old], 0.5)
            print(f"  {kind} {label:<14}{a:>8.0f}{b:>8.0f}{a / b:>8.2f}")


def _describe(result: dict[str, Any]) -> str:
    canvas = result["canvas"] or {}
    blank = not canvas or canvas.get("sd", 0) < 5
    chunk = result["viewerChunk"] or {}
    listed = result["seriesList"] or {}
    meta = result["metadata"] or {}
    return (
        f"first image {result['firstImage']:6.0f} ms; series list {listed.get('start', math.nan):5.0f}-{listed.get('end', math.nan):5.0f}, "
        f"metadata {meta.get('start', math.nan):5.0f}-{meta.get('end', math.nan):5.0f}, "
        f"viewer code in at {chunk.get('end', math.nan):5.0f}, first frame in at {result['firstFrameEnd'] or math.nan:5.0f} "
        f"({result['framesBefore']} frames in by the first image); whole volume {result['volumeLoaded']:6.0f} ms; "
        f"canvas sd {canvas.get('sd', 0):5.1f}{' BLANK' if blank else ''}"
        + f"; first frame asked at {result['firstFrameStart'] or math.nan:5.0f}"
        + (f"; page errors: {result['errors']}" if result["errors"] else "")
    )


def _metadata_ms(result: dict[str, Any]) -> float:
    meta = result["metadata"] or {}
    return float(meta.get("end", math.nan) - meta.get("start", math.nan))


def _summary(
    args: argparse.Namespace,
    server_cold: dict[str, Any],
    viewer: list[dict[str, dict[str, Any]]],
    baseline: list[dict[str, Any]],
    direct: list[dict[str, Any]],
) -> None:
    def p50(values: list[float]) -> float:
        return percentile(values, 0.5)

    def row(
        label: str, values: list[float], base: list[float] | None = None, target: float | None = None
    ) -> None:
        ratio = f"{p50(values) / p50(base):8.2f}" if base else f"{'':>8}"
        goal = f"{target:>8.0f}" if target is not None else f"{'':>8}"
        baseline = f"{p50(base):>8.0f}" if base else f"{'':>8}"
        print(f"{label:<62}{p50(values):>8.0f}{percentile(values, 0.95):>8.0f}{baseline}{ratio}{goal}")

    cold = [r["cold"] for r in viewer]
    warm = [r["warm"] for r in viewer]
    proxy_total = [b["total"] for b in baseline]
    proxy_meta = [b["metadata"] for b in baseline]
    direct_total = [b["total"] for b in direct]
    direct_meta = [b["metadata"] for b in direct]
    print()
    print(f"{args.runs} runs each, milliseconds; ratio = p50 / baseline p50")
    print(f"{'':<62}{'p50':>8}{'p95':>8}{'baseline':>8}{'ratio':>8}{'target':>8}")
    print("baselines, bare fetch() of the series metadata + the middle frame:")
    row("  through the app's proxy (access check, audit)", proxy_total, direct_total)
    row("  Orthanc direct", direct_total)
    row("  series metadata through the proxy (vs Orthanc direct)", proxy_meta, direct_meta)
    for kind, runs, target in (
        ("warm (second visit, code cached)", warm, TARGETS["warm"]),
        ("cold (first visit, empty cache)", cold, TARGETS["cold"]),
    ):
        print(f"viewer, {kind}, from navigation start; baseline: bare fetch via Orthanc direct:")
        row("  first image drawn", [r["firstImage"] for r in runs], direct_total, target)
        row(
            "  series metadata request (start to answer)",
            [_metadata_ms(r) for r in runs],
            direct_meta,
            TARGETS["metadata"],
        )
        row("  series metadata in the page", [(r["metadata"] or {}).get("end", math.nan) for r in runs])
        row("  viewer code in", [(r["viewerChunk"] or {}).get("end", math.nan) for r in runs])
        row(
            "  first image after the metadata",
            [r["firstImage"] - (r["metadata"] or {}).get("end", math.nan) for r in runs],
        )
        row("  whole volume loaded", [r["volumeLoaded"] for r in runs], None, TARGETS["volume"])
    print(
        f"first visit after the server started (not counted): first image {server_cold['firstImage']:.0f} ms, "
        f"series metadata request {_metadata_ms(server_cold):.0f} ms, whole volume {server_cold['volumeLoaded']:.0f} ms"
    )
    print(
        f"ratio first image / bare fetch through the proxy (p50s): warm {p50([r['firstImage'] for r in warm]) / p50(proxy_total):.1f}x, "
        f"cold {p50([r['firstImage'] for r in cold]) / p50(proxy_total):.1f}x; proxy / Orthanc direct (bare fetch, p50s): "
        f"{p50(proxy_total) / p50(direct_total):.2f} (target <= {TARGETS['ratio']}); frames in before the first image "
        f"(median, warm): {statistics.median(r['framesBefore'] for r in warm):.0f} of {warm[0]['slices']} slices"
    )
    blank = sum(1 for r in cold + warm if not r["canvas"] or r["canvas"]["sd"] < 5)
    if blank:
        print(f"{blank} visit(s) ended on a blank canvas")


if __name__ == "__main__":
    sys.exit(main())
