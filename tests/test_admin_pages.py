"""Admin lists that admins use to configure Quorum."""

import pytest


@pytest.mark.parametrize(
    "model",
    ["orchestrator/modelprice", "insights/labelledset", "insights/evaluation", "orchestrator/pipeline",
     "orchestrator/agent", "orchestrator/prompt", "orchestrator/rubric"],
)  # fmt: skip
def test_admin_opens_the_list_and_an_analyst_cannot(client, admin_user, analyst, debate_pipeline, model):
    client.force_login(admin_user)
    assert client.get(f"/admin/{model}/").status_code == 200
    client.force_login(analyst)
    assert client.get(f"/admin/{model}/").status_code == 302  # to the admin login


def test_admin_edits_a_price(client, admin_user, debate_pipeline):
    from orchestrator.models import ModelPrice

    price = ModelPrice.objects.get(model="claude-haiku-4-5")
    client.force_login(admin_user)
    response = client.get(f"/admin/orchestrator/modelprice/{price.pk}/change/")
    assert response.status_code == 200 and b"cache_write_1h_per_mtok" in response.content
