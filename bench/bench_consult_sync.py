"""Consult-room viewer sync latency against a bare Channels echo round trip, in one run.

    .venv/bin/python bench/bench_consult_sync.py [--changes 300] [--followers 8]

In process, over the project's channel layer (Redis pub/sub at REDIS_URL) and a fresh SQLite
database under var/bench: one consultation is opened through the services, the presenter's
room socket sends viewer states (slice, window, pointer) while ``--followers`` other sockets
sit in the same room (the busy room), and the time from the presenter's send to the follower's
receipt of that state is measured. Browser rendering is not included (the portal renders a
received state with one image fetch; see tests/browser/test_consultation.py). Baseline in the
same run: a bare Channels consumer echoing each message back to the sender (send -> receive),
and the same echo through the channel layer (group_send to its own group). Prints p50/p99 and
the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, values_s: list[float]) -> tuple[float, float]:
    ms = [v * 1000 for v in values_s]
    p50, p99 = pct(ms, 50), pct(ms, 99)
    print(f"{name:<48} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  mean {statistics.fmean(ms):7.2f} ms  (n={len(ms)})")
    return p50, p99


def setup() -> Any:
    bench_dir = ROOT / "var" / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    database = bench_dir / "consult_sync.sqlite3"
    database.unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.test")
    # Project and Django imports follow django.setup(), once DATABASE_URL names the bench database.
    import django

    django.setup()
    # Here, not at the top: main() points the settings at the bench database first.
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Here, not at the top: the environment is set and Django set up first (see main).
    from django.utils import timezone

    from cdss.accounts.models import CareTeam, Role, User
    from consultations.services import consultation_accept, consultation_request
    from imaging.models import ImagingSeries, ImagingStudy
    from patients.models import Patient

    clinician = User.objects.create_user("bench-clinician", role=Role.CLINICIAN)
    consultant = User.objects.create_user("bench-consultant", role=Role.CONSULTANT)
    team = CareTeam.objects.create(name="bench team")
    team.members.add(clinician)
    patient = Patient.objects.create(mrn="BENCH-1", given_name="Bench", family_name="Patient",
                                     birth_date=dt.date(1960, 1, 1), sex="female", care_team=team)
    study = ImagingStudy.objects.create(patient=patient, study_instance_uid="1.2.3.4")
    series = ImagingSeries.objects.create(study=study, series_instance_uid="1.2.3.4.5", modality="CT")
    consultation = consultation_request(
        requested_by=clinician, patient_id=patient.pk, question="bench", consultant_id=consultant.pk,
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    consultation = consultation_accept(consultation=consultation, user=consultant)
    return clinician, consultant, consultation, series


async def communicator(app: Any, path: str, user: Any, kwargs: dict[str, Any]) -> Any:
    from channels.testing import WebsocketCommunicator  # after django.setup() in setup()

    comm = WebsocketCommunicator(app, path)
    comm.scope["user"] = user
    comm.scope["url_route"] = {"args": (), "kwargs": kwargs}
    connected, code = await comm.connect(timeout=10)
    if not connected:
        raise RuntimeError(f"socket refused: {code}")
    return comm


async def drain(comm: Any, until: float = 0.3) -> None:
    # The communicator's own timeouts cancel the application: read its queue directly.
    while True:
        try:
            await asyncio.wait_for(comm.output_queue.get(), until)
        except TimeoutError:
            return


async def run(changes: int, followers: int) -> None:
    clinician, consultant, consultation, series = await asyncio.to_thread(setup)
    # After django.setup() (in setup()): consumers use the app registry.
    from channels.generic.websocket import AsyncWebsocketConsumer

    from consultations.consumers import ConsultRoomConsumer

    class Echo(AsyncWebsocketConsumer):
        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            await self.send(text_data=text_data)

    # Baseline: a bare consumer's echo.
    echo = await communicator(Echo.as_asgi(), "/echo/", clinician, {})
    echo_times = []
    for n in range(changes):
        start = time.perf_counter()
        await echo.send_to(text_data=json.dumps({"n": n}))
        await echo.receive_from(timeout=5)
        echo_times.append(time.perf_counter() - start)
    await echo.disconnect()

    class GroupEcho(AsyncWebsocketConsumer):
        """The same echo through the channel layer: group_send to its own group and back."""

        async def connect(self) -> None:
            await self.channel_layer.group_add("bench.echo", self.channel_name)
            await self.accept()

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            await self.channel_layer.group_send("bench.echo", {"type": "echo.text", "text": text_data})

        async def echo_text(self, message: dict[str, Any]) -> None:
            await self.send(text_data=message["text"])

    group_echo = await communicator(GroupEcho.as_asgi(), "/echo/", clinician, {})
    layer_times = []
    for n in range(changes):
        start = time.perf_counter()
        await group_echo.send_to(text_data=json.dumps({"n": n}))
        await group_echo.receive_from(timeout=5)
        layer_times.append(time.perf_counter() - start)
    await group_echo.disconnect()

    room_app = ConsultRoomConsumer.as_asgi()
    kwargs = {"consultation_id": consultation.pk}
    path = f"/ws/consultations/{consultation.pk}/room/"
    presenter = await communicator(room_app, path, clinician, kwargs)
    follower = await communicator(room_app, path, consultant, kwargs)
    busy = [await communicator(room_app, path, clinician, kwargs) for _ in range(followers - 1)]
    for comm in (presenter, follower, *busy):
        await drain(comm)

    async def absorb(comm: Any) -> None:
        while True:
            await comm.output_queue.get()

    sinks = [asyncio.create_task(absorb(comm)) for comm in (*busy, presenter)]
    for comm in (presenter, follower, *busy):
        if comm.future.done():
            raise RuntimeError("a room socket ended early")
    sync_times = []
    for n in range(changes):
        state = {"series": series.pk, "slice": n % 100, "ww": 400 + n % 50, "wc": 40, "zoom": 1.0,
                 "pan": [0, 0], "pointer": [0.5, (n % 10) / 10]}
        start = time.perf_counter()
        await presenter.send_to(text_data=json.dumps({"type": "viewer.state", "seq": n, "state": state}))
        while True:
            output = await asyncio.wait_for(follower.output_queue.get(), 5)
            message = json.loads(output.get("text") or "{}")
            if message.get("type") == "viewer.state" and message.get("seq") == n:
                break
        sync_times.append(time.perf_counter() - start)
    for task in sinks:
        task.cancel()
    for comm in (presenter, follower, *busy):
        await comm.disconnect()

    print(f"consult room viewer sync, {changes} changes, {followers} followers in the room")
    e50, e99 = line("bare Channels echo (send -> receive)", echo_times)
    l50, l99 = line("bare echo through the channel layer (group)", layer_times)
    s50, s99 = line("presenter state -> follower socket", sync_times)
    print(f"ratio sync/echo: p50 {s50 / e50:5.1f}x  p99 {s99 / e99:5.1f}x; "
          f"sync/layer echo: p50 {s50 / l50:5.1f}x  p99 {s99 / l99:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--followers", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.changes, args.followers))


if __name__ == "__main__":
    main()
