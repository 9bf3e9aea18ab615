"""Benchmark: time to first image in the Cornerstone3D viewer for a 100+-slice CT, in Chromium.

Run (from the repository root, with the front end built: ``cd frontend && npm run build``)::

    .venv/bin/python bench/bench_viewer.py [--slices 120] [--runs 7] [--database-url URL] [--keep]

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
   study page ``/studies/<uid>?patient=<id>``. The viewer sets the User Timing marks
   ``cdss:series-metadata`` (the series metadata arrived), ``cdss:first-image`` (the first
   render of the viewport after the slice it shows has its pixels) and ``cdss:volume-loaded``
   (every slice is in, as MPR needs; frontend/src/viewer/studyViewer.ts); their ``startTime``
   is milliseconds since navigation start. The canvas is checked to be not blank (grey levels
   spread out) at the first image;
4. the baseline, in the same Chromium, another fresh context per run: from a page of the app,
   ``fetch()`` the series metadata and then one frame (the middle slice, which the viewer shows
   first) through the proxy. That is the least the viewer must wait for once its code runs.

One run of each is made first and not counted (Orthanc's and the OS's caches, Daphne's first
requests). Prints p50 and p95 of each figure, and the ratio of the viewer's first image to the
baseline. Prints, never asserts: the figures depend on the machine and on what else it runs.
"""

from __future__ import annotations

import argparse
import math
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dicomweb import FRAME_ACCEPT, ROOT, BenchStack, bench_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
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

# What the viewer measured, and the frames it had fetched by its first image.
VIEWER_TIMES = """([first, metadata]) => {
  const mark = (name) => performance.getEntriesByName(name, 'mark')[0]?.startTime ?? null;
  const firstImage = mark(first);
  const nav = performance.getEntriesByType('navigation')[0];
  const frames = performance.getEntriesByType('resource').filter((r) => r.name.includes('/frames/'));
  const viewerChunk = performance.getEntriesByType('resource').find((r) => /\\/assets\\/viewer-[^/]*\\.js$/.test(r.name));
  return {
    firstImage, metadata: mark(metadata),
    domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
    viewerChunkEnd: viewerChunk ? viewerChunk.responseEnd : null,
    framesBefore: frames.filter((r) => firstImage !== null && r.responseEnd <= firstImage).length,
  };
}"""

# The baseline: series metadata, then the middle slice's frame, with plain fetch().
BASELINE = """async ({ study, series, frameAccept }) => {
  const t0 = performance.now();
  const base = `/dicomweb/studies/${study}/series/${series}`;
  const response = await fetch(`${base}/metadata`, { credentials: 'same-origin', headers: { Accept: 'application/dicom+json' } });
  if (!response.ok) throw new Error(`metadata HTTP ${response.status}`);
  const items = await response.json();
  const t1 = performance.now();
  const number = (item) => Number(item['00200013']?.Value?.[0] ?? 0);
  items.sort((a, b) => number(a) - number(b));
  const sop = items[Math.floor(items.length / 2)]['00080018'].Value[0];
  const frame = await fetch(`${base}/instances/${sop}/frames/1`, { credentials: 'same-origin', headers: { Accept: frameAccept } });
  if (!frame.ok) throw new Error(`frame HTTP ${frame.status}`);
  const bytes = (await frame.arrayBuffer()).byteLength;
  const t2 = performance.now();
  return { metadata: t1 - t0, total: t2 - t0, bytes, instances: items.length };
}"""


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


def viewer_run(browser: Any, web: str, stack: BenchStack, password: str, patient_id: int) -> dict[str, Any]:
    context, page = _context(browser, web, "bench-clinician", password)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{web}/studies/{stack.study}?patient={patient_id}")
        # Polled from here: wait_for_function evaluates a string in the page, which the CSP forbids.
        deadline = time.monotonic() + 120
        while not page.evaluate("(name) => performance.getEntriesByName(name, 'mark').length > 0", FIRST_IMAGE):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no first image after 120 s; page errors: {errors}")
            page.wait_for_timeout(50)
        times: dict[str, Any] = page.evaluate(VIEWER_TIMES, [FIRST_IMAGE, SERIES_METADATA])
        times["canvas"] = page.evaluate(CANVAS_SPREAD)
        times["slices"] = page.locator("#vp-axial").get_attribute("data-slice-count")
        while not page.evaluate("(name) => performance.getEntriesByName(name, 'mark').length > 0", VOLUME_LOADED):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the volume did not finish loading in 120 s; page errors: {errors}")
            page.wait_for_timeout(50)
        times["volumeLoaded"] = page.evaluate("(name) => performance.getEntriesByName(name, 'mark')[0].startTime", VOLUME_LOADED)
        times["errors"] = errors
        return times
    finally:
        context.close()


def baseline_run(browser: Any, web: str, stack: BenchStack, password: str) -> dict[str, Any]:
    context, page = _context(browser, web, "bench-clinician", password)
    try:
        page.goto(f"{web}/healthz")  # any page of the app's origin, so that fetch() carries the session
        result: dict[str, Any] = page.evaluate(BASELINE, {"study": stack.study, "series": stack.series, "frameAccept": FRAME_ACCEPT})
        return result
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each measurement")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        print("frontend/dist is missing: cd frontend && npm run build", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    password = secrets.token_urlsafe(16)
    with bench_stack(name="bench-viewer", slices=args.slices, database_url=args.database_url, keep=args.keep) as stack:
        stack.manage("collectstatic", "--noinput", "-v", "0")
        _token, patient_id = stack.clinician(password=password)
        web = stack.daphne("cdss.asgi:application")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                print(f"series: {args.slices} slices x 512x512x16 bit (uncompressed); Chromium {browser.version} headless, "
                      f"software rendering; database {stack.env['DATABASE_URL'].split(':', 1)[0]}; DEBUG off, collected static files")
                viewer_run(browser, web, stack, password, patient_id)  # warm-up, not counted
                baseline_run(browser, web, stack, password)
                viewer: list[dict[str, Any]] = []
                baseline: list[dict[str, Any]] = []
                for run in range(args.runs):
                    # Alternate, so that both see the same conditions on a shared machine.
                    result = viewer_run(browser, web, stack, password, patient_id)
                    viewer.append(result)
                    base = baseline_run(browser, web, stack, password)
                    baseline.append(base)
                    canvas = result["canvas"] or {}
                    blank = not canvas or canvas.get("sd", 0) < 5
                    print(f"  run {run + 1}: first image {result['firstImage']:7.0f} ms (metadata at {result['metadata']:6.0f} ms, "
                          f"viewer code loaded at {result['viewerChunkEnd'] or float('nan'):6.0f} ms, "
                          f"{result['framesBefore']} frames had arrived by then; whole volume at {result['volumeLoaded']:6.0f} ms), "
                          f"canvas sd {canvas.get('sd', 0):5.1f}{' BLANK' if blank else ''}; "
                          f"baseline {base['total']:6.0f} ms (metadata {base['metadata']:5.0f} ms)"
                          + (f"; page errors: {result['errors']}" if result["errors"] else ""))
            finally:
                browser.close()

    def row(label: str, values: list[float]) -> None:
        print(f"{label:<52}{percentile(values, 0.5):>9.0f}{percentile(values, 0.95):>9.0f}")

    firsts = [r["firstImage"] for r in viewer]
    bases = [b["total"] for b in baseline]
    print()
    print(f"{args.runs} runs each, milliseconds{'':<24}{'p50':>9}{'p95':>9}")
    row("viewer: first image drawn, from navigation start", firsts)
    row("viewer: series metadata arrived, from navigation start", [r["metadata"] for r in viewer])
    row("viewer: first image after the metadata", [r["firstImage"] - r["metadata"] for r in viewer])
    row("viewer: whole volume loaded, from navigation start", [r["volumeLoaded"] for r in viewer])
    row("baseline: fetch() metadata + middle frame", bases)
    row("baseline: fetch() metadata only", [b["metadata"] for b in baseline])
    print(f"ratio first image / baseline (p50s): {statistics.median(firsts) / statistics.median(bases):.1f}x; "
          f"frames arrived before the first image (median): {statistics.median(r['framesBefore'] for r in viewer):.0f} "
          f"of {viewer[0]['slices']} slices")
    blank = sum(1 for r in viewer if not r["canvas"] or r["canvas"]["sd"] < 5)
    if blank:
        print(f"{blank} run(s) ended on a blank canvas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
