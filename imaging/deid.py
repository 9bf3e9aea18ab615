"""De-identification of imaging for de-identified shares (DICOM PS3.15 Annex E).

A consultant whose share is de-identified sees pseudonymous UIDs: each real UID maps to
``2.25.<128-bit integer>`` derived with HMAC-SHA256 from the secret key and the share's
pseudonym, so the mapping is the same on every request of one share (a viewer's URLs stay
valid) and different between shares (two consultants cannot link their studies).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings

from patients.access import patient_pseudonyms_for_user


def uid_pseudonym(uid: str, *, pseudonym: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{pseudonym}:{uid}".encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def share_pseudonym_for(user: Any, patient_id: int) -> str | None:
    """The pseudonym of the de-identified share through which this user sees the patient,
    or None when the user sees the patient identified."""
    return patient_pseudonyms_for_user(user).get(patient_id)


def uid_for_user(user: Any, patient_id: int, uid: str) -> str:
    pseudonym = share_pseudonym_for(user, patient_id)
    return uid if pseudonym is None else uid_pseudonym(uid, pseudonym=pseudonym)


def imaging_rows_for_user(user: Any, patient_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The imaging API's study rows as this user may see them: for a de-identified share, UIDs
    mapped, accession number and free-text descriptions (which may name the patient) dropped."""
    pseudonym = share_pseudonym_for(user, patient_id)
    if pseudonym is None:
        return rows
    out = []
    for row in rows:
        study = dict(row)
        study["study_instance_uid"] = uid_pseudonym(row["study_instance_uid"], pseudonym=pseudonym)
        study["accession_number"] = ""
        study["description"] = ""
        study["series"] = [
            {**series, "series_instance_uid": uid_pseudonym(series["series_instance_uid"], pseudonym=pseudonym),
             "description": ""}
            for series in row.get("series", [])
        ]
        out.append(study)
    return out
