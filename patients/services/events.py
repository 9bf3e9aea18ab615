"""Tell browsers watching a patient that part of the record changed (ids only, after commit)."""

from __future__ import annotations

from collections.abc import Iterable

from cdss.core.events import event_publish_on_commit, patient_group


def record_changed_publish(*, patient_id: int, record: str, action: str, ids: Iterable[int]) -> None:
    event_publish_on_commit(
        groups=[patient_group(patient_id)],
        event_type="record.changed",
        payload={"patient_id": patient_id, "record": record, "action": action, "ids": list(ids)},
    )
