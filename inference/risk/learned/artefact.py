"""Versioned JSON artefacts: ``<root>/<key>/<version>/{model.json, MODEL_CARD.md, manifest.json, card.json}``.

``card.json`` declares the model's intended population and required inputs
(``inference.eligibility``); it describes the cohort rather than the fit, so a retrained version
carries the previous version's card forward unchanged.

No pickle anywhere: a model is coefficients and preprocessing constants in JSON, so loading
executes no code. The manifest records the SHA-256 of model.json's bytes; loading recomputes
it and refuses a mismatch (code ``risk_artefact_hash_mismatch``), like ``torch.load`` after a
hash check in the imaging runtime.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.eligibility import PopulationInvalid, inputs_parse, population_markdown, population_parse
from inference.risk.learned.errors import (
    ArtefactIntegrityError,
    ArtefactInvalid,
    ArtefactMissing,
)

SCHEMA = "cdss.learned_risk/1"
MODEL_FILE = "model.json"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "MODEL_CARD.md"
POPULATION_FILE = "card.json"
# learned -> risk -> inference; artefacts live in the inference app, committed to the repo
DEFAULT_ARTEFACT_ROOT = Path(__file__).resolve().parents[2] / "artefacts" / "risk"

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SIGNIFICANT_DIGITS = 12


@dataclass(frozen=True)
class LoadedArtefact:
    key: str
    version: str
    sha256: str
    path: Path
    payload: dict[str, Any]
    card: dict[str, Any] | None = None

    @property
    def population(self) -> dict[str, Any] | None:
        return None if self.card is None else self.card.get("population")

    @property
    def inputs(self) -> dict[str, Any] | None:
        return None if self.card is None else self.card.get("inputs")


def round_floats(value: Any) -> Any:
    """Round every float to 12 significant digits so JSON bytes do not depend on the last
    bits of BLAS arithmetic, and refuse NaN/inf (JSON has no such numbers; use null)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArtefactInvalid(f"non-finite number in artefact: {value}")
        return float(f"{value:.{_SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {str(k): round_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return round_floats(value.item())
    raise ArtefactInvalid(f"cannot store {type(value).__name__} in an artefact")


def model_json_bytes(payload: dict[str, Any]) -> bytes:
    """Canonical serialisation: sorted keys, fixed indent, trailing newline."""
    text = json.dumps(round_floats(payload), sort_keys=True, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_id(key: str, version: str) -> None:
    if not _KEY_RE.match(key):
        raise ArtefactInvalid(f"bad model key {key!r}")
    if not _VERSION_RE.match(version):
        raise ArtefactInvalid(f"bad version {version!r}; expected MAJOR.MINOR.PATCH")


def artefact_save(
    root: Path, payload: dict[str, Any], *, card_markdown: str, created_with: str
) -> LoadedArtefact:
    key, version = str(payload["key"]), str(payload["version"])
    _check_id(key, version)
    folder = root / key / version
    card = _card_carried(root, key, version)
    folder.mkdir(parents=True, exist_ok=True)
    data = model_json_bytes(payload)
    digest = sha256_hex(data)
    (folder / MODEL_FILE).write_bytes(data)
    if card is not None:
        (folder / POPULATION_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        card_markdown = card_markdown.rstrip("\n") + "\n\n" + population_markdown(card.get("population"), card.get("inputs"))
    (folder / CARD_FILE).write_text(card_markdown, encoding="utf-8")
    manifest = {
        "key": key,
        "version": version,
        "schema": SCHEMA,
        "file": MODEL_FILE,
        "sha256": digest,
        "created_with": created_with,
    }
    (folder / MANIFEST_FILE).write_text(
        json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )
    return LoadedArtefact(key, version, digest, folder, json.loads(data), card)


def _card_carried(root: Path, key: str, version: str) -> dict[str, Any] | None:
    """The population card for ``version``: its own when it has one (a rerun), else the newest
    earlier version's, renumbered; None when the model has never declared one."""
    if (root / key / version / POPULATION_FILE).is_file():
        return _card_read(root / key / version, key, version)
    for earlier in reversed([v for v in artefact_versions(root, key) if v != version]):
        if (root / key / earlier / POPULATION_FILE).is_file():
            return {**_card_read(root / key / earlier, key, earlier), "version": version}
    return None


def _card_read(folder: Path, key: str, version: str) -> dict[str, Any]:
    try:
        card = json.loads((folder / POPULATION_FILE).read_text(encoding="utf-8"))
        if not isinstance(card, dict) or card.get("key") != key:
            raise PopulationInvalid("card.json names another model")
        population_parse(card.get("population"))
        inputs_parse(card.get("inputs", {}))
    except (ValueError, OSError) as exc:
        raise ArtefactInvalid(f"card.json of {key}@{version} is invalid: {exc}") from exc
    return card


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def artefact_versions(root: Path, key: str) -> list[str]:
    folder = root / key
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)]
    return sorted(found, key=_version_key)


def artefact_load(root: Path, key: str, version: str | None = None) -> LoadedArtefact:
    """Load and verify; ``version=None`` takes the highest version present."""
    if version is None:
        versions = artefact_versions(root, key)
        if not versions:
            raise ArtefactMissing(f"no artefact for model {key!r} under {root}", detail={"model": key})
        version = versions[-1]
    _check_id(key, version)
    folder = root / key / version
    manifest_path, model_path = folder / MANIFEST_FILE, folder / MODEL_FILE
    if not manifest_path.is_file() or not model_path.is_file():
        raise ArtefactMissing(
            f"artefact {key}@{version} incomplete or missing in {folder}",
            detail={"model": key, "version": version},
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = str(manifest["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtefactInvalid(f"unreadable manifest for {key}@{version}: {exc}") from exc
    data = model_path.read_bytes()
    actual = sha256_hex(data)
    if actual != expected:
        # refuse before parsing: a modified file is not trusted even as JSON
        raise ArtefactIntegrityError(
            f"model.json of {key}@{version} does not match its manifest SHA-256",
            detail={"model": key, "version": version, "expected": expected, "actual": actual},
        )
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise ArtefactInvalid(f"model.json of {key}@{version} is not JSON: {exc}") from exc
    if payload.get("schema") != SCHEMA or payload.get("key") != key:
        raise ArtefactInvalid(
            f"artefact {key}@{version} has schema {payload.get('schema')!r}, "
            f"key {payload.get('key')!r}; expected {SCHEMA!r}, {key!r}"
        )
    if payload.get("version") != version or manifest.get("key") != key:
        raise ArtefactInvalid(f"artefact {key}@{version}: manifest and payload disagree")
    card = _card_read(folder, key, version) if (folder / POPULATION_FILE).is_file() else None
    return LoadedArtefact(key, version, actual, folder, payload, card)
