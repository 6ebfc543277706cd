"""Admin lists that admins use to configure Quorum."""

import re
from decimal import Decimal

import pytest
from django.test import Client

PRICE_FIELDS = [
    "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_write_1h_per_mtok",
    "cache_read_per_mtok", "batch_discount",
]  # fmt: skip


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


def _edit_price_in_the_admin(client, price, **rates) -> None:
    """Open the price's change form and save it with `rates`, as an admin would:
    the CSRF token comes from the form the page served."""
    url = f"/admin/orchestrator/modelprice/{price.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b"cache_write_1h_per_mtok" in page.content
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    form = {
        "model": price.model,
        **{name: str(getattr(price, name)) for name in PRICE_FIELDS},
        **{name: str(value) for name, value in rates.items()},
        "csrfmiddlewaretoken": token,
        "_save": "Save",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]  # back to the list: saved


def test_admin_edits_a_price_and_only_later_steps_are_charged_at_it(admin_user, debate_pipeline, make_document):
    from orchestrator import engine
    from orchestrator.models import ModelPrice

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    price = ModelPrice.objects.get(model="offline-rules")  # the debate pipeline's agents' model
    document = make_document()

    _edit_price_in_the_admin(client, price, input_per_mtok=Decimal("3"), output_per_mtok=Decimal("15"))
    earlier = _run_first_advocate(engine, document, debate_pipeline)
    _edit_price_in_the_admin(client, price, input_per_mtok=Decimal("30"), output_per_mtok=Decimal("150"))
    later = _run_first_advocate(engine, document, debate_pipeline)
    earlier.refresh_from_db()

    assert later.cost == (30 * later.input_tokens + 150 * later.output_tokens) / Decimal(1_000_000)
    assert later.price["input_per_mtok"] == "30.0000"
    assert earlier.cost == (3 * earlier.input_tokens + 15 * earlier.output_tokens) / Decimal(1_000_000)
    assert earlier.price["input_per_mtok"] == "3.0000"
    assert earlier.cost > 0 and later.cost == 10 * earlier.cost


def test_the_price_form_refuses_a_post_without_the_csrf_token(admin_user, debate_pipeline):
    from orchestrator.models import ModelPrice

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    price = ModelPrice.objects.get(model="offline-rules")

    response = client.post(f"/admin/orchestrator/modelprice/{price.pk}/change/", {"input_per_mtok": "99"})

    assert response.status_code == 403
    price.refresh_from_db()
    assert price.input_per_mtok == 0


def _run_first_advocate(engine, document, pipeline):
    run = engine.start_run(document, pipeline)
    step = run.steps.get(key="advocate:a")
    engine.execute_step(step.pk)
    step.refresh_from_db()
    assert step.status == step.Status.SUCCEEDED, step.error
    return step
