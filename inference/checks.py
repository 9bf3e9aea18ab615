"""System checks of the model registries: every artefact must load before any worker needs it.

``manage.py check`` (and every command that runs checks, ``migrate`` and ``runserver`` among
them) fails with ``inference.E001``-``E003`` when a model card is malformed, its weights file is
missing, or a file does not match the SHA-256 its card or manifest records, and with
``inference.E004`` when the newest version of a model declares no intended population (the
pipeline would abstain on every patient). Loading refuses
such artefacts anyway; the check says so at deployment instead of at the first analysis.
Hashing reads every weights file (a few MB each); torch is never imported here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from cdss.core.errors import CdssError
from inference import registry
from inference.risk.learned import artefact
from inference.risk.learned.errors import LearnedRiskError


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _imaging_problems() -> list[CheckMessage]:
    # Read through the module: tests point the registry at a copy of the artefacts.
    root = registry.ARTEFACT_ROOT
    problems: list[CheckMessage] = []
    newest: dict[str, Any] = {}
    for path in sorted(root.glob(f"*/*/{registry.CARD_FILE}")):
        where = str(path.parent.relative_to(root))
        try:
            card = registry.model_card_parse(path=path)
        except CdssError as exc:
            problems.append(Error(f"model card {where} is invalid: {exc}", id="inference.E001"))
            continue
        if card.key not in newest or _version(card.version) > _version(newest[card.key].version):
            newest[card.key] = card
        try:
            registry.model_weights_verify(card=card)
        except CdssError as exc:
            problems.append(Error(f"model {card.key} {card.version}: {exc}", hint="Re-run the model's training command "
                                  "or restore the file from the repository.", id="inference.E002"))
    problems.extend(
        Error(f"model {card.key} {card.version}: card.json declares no intended population", id="inference.E004")
        for card in newest.values()
        if card.population is None
    )
    return problems


def _risk_problems() -> list[CheckMessage]:
    root = artefact.DEFAULT_ARTEFACT_ROOT
    problems: list[CheckMessage] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        versions = artefact.artefact_versions(root, folder.name)
        for version in versions:
            try:
                loaded = artefact.artefact_load(root, folder.name, version)
            except LearnedRiskError as exc:
                problems.append(Error(f"risk model {folder.name} {version}: {exc}", id="inference.E003"))
                continue
            if version == versions[-1] and loaded.population is None:
                problems.append(
                    Error(f"risk model {folder.name} {version}: no card.json with an intended population",
                          id="inference.E004")
                )
    return problems


@register("models")
def model_registry_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return _imaging_problems() + _risk_problems()


REPORT_RELEASE_POLICIES = ("held", "on_sign")


@register()
def report_release_policy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    policy = getattr(settings, "REPORT_RELEASE_POLICY", "held")
    if policy not in REPORT_RELEASE_POLICIES:
        return [Error(f"REPORT_RELEASE_POLICY is {policy!r}", hint="Set it to one of: " + ", ".join(REPORT_RELEASE_POLICIES) + ".",
                      id="inference.E010")]
    return []
