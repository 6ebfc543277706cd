"""Seeding the ModelPrice table."""

from decimal import Decimal

import pytest

from orchestrator.llm.prices import CLAUDE_PRICES, seed_prices
from orchestrator.models import ModelPrice


def test_prices_follow_the_cache_and_batch_multipliers():
    for price in CLAUDE_PRICES:
        assert price["cache_write_per_mtok"] == price["input_per_mtok"] * Decimal("1.25")
        assert price["cache_read_per_mtok"] == price["input_per_mtok"] * Decimal("0.1")
    assert len({p["model"] for p in CLAUDE_PRICES}) == len(CLAUDE_PRICES)


@pytest.mark.django_db
def test_seeding_creates_prices():
    assert seed_prices() == len(CLAUDE_PRICES)
    assert ModelPrice.objects.count() == len(CLAUDE_PRICES)
    opus = ModelPrice.objects.get(model="claude-opus-5")
    assert (opus.input_per_mtok, opus.output_per_mtok) == (Decimal("5"), Decimal("25"))
    assert (opus.cache_write_per_mtok, opus.cache_read_per_mtok) == (Decimal("6.25"), Decimal("0.5"))
    assert ModelPrice.objects.get(model="offline-rules").output_per_mtok == 0


@pytest.mark.django_db
def test_seeding_again_keeps_an_admins_edited_price():
    seed_prices()
    ModelPrice.objects.filter(model="claude-opus-5").update(input_per_mtok=Decimal("99"))

    assert seed_prices() == 0

    assert ModelPrice.objects.get(model="claude-opus-5").input_per_mtok == Decimal("99")
