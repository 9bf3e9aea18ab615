"""The analysis model list carries each card's display name, version and limitations: the
viewer titles a model's findings by name and version and shows its heatmap caveat."""

from __future__ import annotations

import pytest

from inference.registry import model_list
from tests.conftest import World, client_for


@pytest.mark.django_db
def test_models_list_names_versions_and_limitations(world: World) -> None:
    response = client_for(world.clinician).get("/api/v1/analyses/models/")
    assert response.status_code == 200
    listed = {m["key"]: m for m in response.json()}
    cards = {card.key: card for card in model_list(latest_only=True)}
    for key in ("liver_ct_seg", "cxr_pneumonia"):
        assert listed[key]["name"] == cards[key].data["name"]
        assert listed[key]["version"] == cards[key].version
        assert listed[key]["limitations"] == cards[key].data["limitations"]
    assert listed["liver_ct_seg"]["name"].startswith("Liver and liver-lesion CT segmentation")
    assert any("grad-cam" in text.lower() for text in listed["cxr_pneumonia"]["limitations"])
