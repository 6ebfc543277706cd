"""What a call costs (the Price value) and seeding the ModelPrice table."""

import dataclasses
from decimal import Decimal

import pytest

from orchestrator.demo.seed import seed_prices
from orchestrator.llm import Usage
from orchestrator.llm.prices import SEED_PRICES, Price
from orchestrator.models import ModelPrice

SONNET = Price(
    input_per_mtok=Decimal("3"),
    output_per_mtok=Decimal("15"),
    cache_write_per_mtok=Decimal("3.75"),
    cache_write_1h_per_mtok=Decimal("6"),
    cache_read_per_mtok=Decimal("0.3"),
    batch_discount=Decimal("0.5"),
)


def test_each_kind_of_token_is_charged_at_its_own_rate():
    assert SONNET.cost(Usage(input_tokens=1_000_000)) == Decimal("3")
    assert SONNET.cost(Usage(output_tokens=1_000_000)) == Decimal("15")
    assert SONNET.cost(Usage(cache_write_tokens=1_000_000)) == Decimal("3.75")
    assert SONNET.cost(Usage(cache_write_1h_tokens=1_000_000)) == Decimal("6")
    assert SONNET.cost(Usage(cache_read_tokens=1_000_000)) == Decimal("0.3")
    # 2000 x 3 + 500 x 15 + 10,000 x 3.75 + 1000 x 6 + 40,000 x 0.3 = 69,000 millionths.
    usage = Usage(2000, 500, cache_write_tokens=10_000, cache_write_1h_tokens=1000, cache_read_tokens=40_000)
    assert SONNET.cost(usage) == Decimal("0.069")


def test_a_batch_is_charged_at_the_discount():
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)

    assert SONNET.cost(usage, batch=True) == Decimal("9")  # half of 3 + 15


def test_cost_is_kept_to_the_millionth_of_a_dollar():
    assert SONNET.cost(Usage(input_tokens=1)) == Decimal("0.000003")
    assert SONNET.cost(Usage(cache_read_tokens=1)) == Decimal("0")  # 0.3 millionths rounds away


def test_seed_prices_follow_the_cache_and_batch_multipliers():
    for model, price in SEED_PRICES.items():
        if model == "offline-rules":
            continue
        assert price.cache_write_per_mtok == price.input_per_mtok * Decimal("1.25")
        assert price.cache_write_1h_per_mtok == price.input_per_mtok * 2
        assert price.cache_read_per_mtok == price.input_per_mtok * Decimal("0.1")
        assert price.batch_discount == Decimal("0.5")


@pytest.mark.django_db
def test_seeding_creates_prices():
    assert seed_prices() == len(SEED_PRICES)
    assert ModelPrice.objects.count() == len(SEED_PRICES)
    opus = ModelPrice.objects.get(model="claude-opus-5")
    assert (opus.input_per_mtok, opus.output_per_mtok) == (Decimal("5"), Decimal("25"))
    assert (opus.cache_write_per_mtok, opus.cache_write_1h_per_mtok) == (Decimal("6.25"), Decimal("10"))
    assert opus.cache_read_per_mtok == Decimal("0.5")
    assert ModelPrice.objects.get(model="offline-rules").output_per_mtok == 0


@pytest.mark.django_db
def test_seeding_again_keeps_an_admins_edited_price():
    seed_prices()
    ModelPrice.objects.filter(model="claude-opus-5").update(input_per_mtok=Decimal("99"))

    assert seed_prices() == 0

    assert ModelPrice.objects.get(model="claude-opus-5").input_per_mtok == Decimal("99")


@pytest.mark.django_db
def test_a_model_price_row_gives_its_price_and_an_unknown_model_none():
    seed_prices()

    ModelPrice.objects.filter(model="claude-opus-5").update(output_per_mtok=Decimal("30"))

    assert ModelPrice.price_for("claude-opus-5") == dataclasses.replace(
        SEED_PRICES["claude-opus-5"], output_per_mtok=Decimal("30")
    )
    assert ModelPrice.price_for("qwen3-8b") is None
