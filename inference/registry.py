"""Registry of imaging models: versioned artefacts described by model cards. Torch-free.

Each model lives in ``inference/artefacts/imaging/<key>/<version>/``:

- ``card.json``: the machine-readable card (in the spirit of a MONAI bundle ``metadata.json``):
  key, version, task, architecture, weights file and its SHA-256, preprocessing and
  postprocessing settings as data, training data and their licences, held-out metrics with the
  command that reproduced them, intended use and limits, and the intended population and
  required inputs (``population``, ``inputs``: checked by ``inference.eligibility`` before the
  model runs on a patient's series);
- ``MODEL_CARD.md``: the same for people;
- the weights file named by the card (a ``torch`` state dict, loaded with ``weights_only=True``
  by ``inference.runtime`` only after :func:`model_weights_verify` has checked its hash).

The web process may import this module (listing models, showing cards); it never imports torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdss.core.errors import CdssError, NotFound, ValidationFailed
from inference.eligibility import (
    POPULATION_HEADING,
    PopulationInvalid,
    inputs_parse,
    population_markdown,
    population_parse,
)

ARTEFACT_ROOT = Path(__file__).resolve().parent / "artefacts" / "imaging"
CARD_FILE = "card.json"
MODEL_CARD_MD = "MODEL_CARD.md"
TASKS = ("classification", "segmentation", "detection")
_REQUIRED = ("key", "version", "task", "architecture", "weights", "preprocessing", "postprocessing")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


class ModelNotFound(NotFound):
    code = "model_not_found"


class ModelCardInvalid(CdssError):
    code = "model_card_invalid"
    status_code = 500


class ModelWeightsMissing(CdssError):
    code = "model_weights_missing"
    status_code = 500


class ModelWeightsHashMismatch(CdssError):
    """The weights on disk are not the ones the card vouches for: never load them."""

    code = "model_weights_hash_mismatch"
    status_code = 500


class ModelWeightsCorrupt(CdssError):
    """The file matches no usable state dict (raised by the runtime when loading fails)."""

    code = "model_weights_corrupt"
    status_code = 500


class ModelInputInvalid(ValidationFailed):
    code = "model_input_invalid"


@dataclass(frozen=True)
class ModelCard:
    """A parsed ``card.json`` and the folder it came from."""

    key: str
    version: str
    task: str
    directory: Path
    data: dict[str, Any]

    @property
    def weights_path(self) -> Path:
        return self.directory / str(self.data["weights"]["file"])

    @property
    def weights_sha256(self) -> str:
        return str(self.data["weights"]["sha256"])

    @property
    def population(self) -> dict[str, Any] | None:
        population = self.data.get("population")
        return population if isinstance(population, dict) else None

    @property
    def inputs(self) -> dict[str, Any] | None:
        inputs = self.data.get("inputs")
        return inputs if isinstance(inputs, dict) else None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.data.get("classes", [])]

    def summary(self) -> dict[str, Any]:
        """What a listing or a report records about the model (no paths)."""
        return {
            "key": self.key,
            "version": self.version,
            "task": self.task,
            "name": self.data.get("name", self.key),
            "weights_sha256": self.weights_sha256,
            "intended_use": self.data.get("intended_use", ""),
            "intended_population": (self.population or {}).get("description", ""),
            "metrics": self.data.get("metrics", {}),
        }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def model_card_parse(*, path: Path) -> ModelCard:
    """Read and validate one ``card.json``; a malformed card fails with ``model_card_invalid``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelCardInvalid(f"cannot read model card {path.name}", detail={"path": str(path)}) from exc
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise ModelCardInvalid("model card lacks required fields", detail={"missing": missing})
    if data["task"] not in TASKS:
        raise ModelCardInvalid("unknown task", detail={"task": data["task"]})
    if not _VERSION_RE.match(str(data["version"])):
        raise ModelCardInvalid("version must be MAJOR.MINOR.PATCH", detail={"version": data["version"]})
    weights = data["weights"]
    if not isinstance(weights, dict) or not {"file", "sha256"} <= weights.keys():
        raise ModelCardInvalid("weights must name a file and its sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", str(weights["sha256"])):
        raise ModelCardInvalid("weights sha256 must be 64 lowercase hex digits")
    if Path(str(weights["file"])).name != weights["file"]:
        raise ModelCardInvalid("weights file must be a bare file name inside the artefact folder")
    try:
        if "population" in data:
            population_parse(data["population"])
        if "inputs" in data:
            inputs_parse(data["inputs"])
    except PopulationInvalid as exc:
        raise ModelCardInvalid(f"population or inputs block is invalid: {exc}") from exc
    return ModelCard(
        key=str(data["key"]),
        version=str(data["version"]),
        task=str(data["task"]),
        directory=path.parent,
        data=data,
    )


def model_list(*, root: Path | None = None, latest_only: bool = False) -> list[ModelCard]:
    """Every registered model version, sorted by key then version (newest last)."""
    base = root or ARTEFACT_ROOT
    cards = [model_card_parse(path=p) for p in sorted(base.glob(f"*/*/{CARD_FILE}"))]
    cards.sort(key=lambda c: (c.key, _version_key(c.version)))
    if latest_only:
        latest: dict[str, ModelCard] = {}
        for card in cards:
            latest[card.key] = card
        cards = list(latest.values())
    return cards


def model_card_get(*, key: str, version: str | None = None, root: Path | None = None) -> ModelCard:
    """The card of ``key`` at ``version`` (the newest version when ``None``)."""
    candidates = [c for c in model_list(root=root) if c.key == key]
    if version is not None:
        candidates = [c for c in candidates if c.version == version]
    if not candidates:
        raise ModelNotFound("no such model", detail={"key": key, "version": version})
    return candidates[-1]


@functools.cache
def model_display_name(*, key: str, version: str | None = None) -> str | None:
    """The card's human name for ``key`` at ``version`` (newest when ``None``); None when
    there is no such card or it names no model. Read once per process: a card version never
    changes."""
    try:
        card = model_card_get(key=key, version=version)
    except ModelNotFound:
        return None
    return str(card.data.get("name") or "") or None


def model_card_markdown(*, card: ModelCard) -> str:
    """The human-readable card (``MODEL_CARD.md``); empty when the artefact has none."""
    path = card.directory / MODEL_CARD_MD
    return path.read_text(encoding="utf-8") if path.exists() else ""


def model_weights_verify(*, card: ModelCard) -> Path:
    """Return the weights path after checking its SHA-256 against the card; refuse otherwise."""
    path = card.weights_path
    if not path.is_file():
        raise ModelWeightsMissing("weights file missing", detail={"key": card.key, "version": card.version})
    actual = sha256_file(path)
    if actual != card.weights_sha256:
        raise ModelWeightsHashMismatch(
            "weights file does not match the model card",
            detail={
                "key": card.key,
                "version": card.version,
                "expected": card.weights_sha256,
                "actual": actual,
            },
        )
    return path


def _population_carried(directory: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The card with the intended population of the card it replaces (or of the newest earlier
    version): the population describes the training cohort, which retraining does not change,
    and a card without one makes the pipeline abstain on every patient."""
    if "population" in data:
        return data
    earlier = sorted(
        (p for p in directory.parent.glob(f"*/{CARD_FILE}") if _VERSION_RE.match(p.parent.name) and p.parent != directory),
        key=lambda p: _version_key(p.parent.name),
        reverse=True,
    )
    for path in [directory / CARD_FILE, *earlier]:
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(previous, dict) and isinstance(previous.get("population"), dict):
            carried: dict[str, Any] = {}
            for name, value in data.items():
                carried[name] = value
                if name == "intended_use":
                    carried["population"] = previous["population"]
            carried.setdefault("population", previous["population"])
            return carried
    return data


def model_card_write(*, directory: Path, data: dict[str, Any], markdown: str) -> ModelCard:
    """Write ``card.json`` and ``MODEL_CARD.md`` (used by training); returns the parsed card.

    A card written without a ``population`` keeps the one already declared for the model.
    """
    data = _population_carried(directory, data)
    if POPULATION_HEADING not in markdown and isinstance(data.get("population"), dict):
        markdown = markdown.rstrip("\n") + "\n\n" + population_markdown(data["population"], data.get("inputs"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CARD_FILE).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (directory / MODEL_CARD_MD).write_text(markdown, encoding="utf-8")
    return model_card_parse(path=directory / CARD_FILE)
