"""Seed prices for the ModelPrice table, in dollars per million tokens. Admins edit
them afterwards; seeding again adds missing models and leaves edited rows alone.

From Anthropic's published pricing (see STACK-NOTES.md): cache writes cost 1.25x
input for the 5-minute cache (the one this app uses) and 2x for the 1-hour cache,
cache reads 0.1x input, batches half price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CACHE_WRITE = Decimal("1.25")
CACHE_WRITE_1H = Decimal("2")
CACHE_READ = Decimal("0.1")
BATCH_DISCOUNT = Decimal("0.5")


def _price(model: str, input_per_mtok: str, output_per_mtok: str) -> dict[str, Any]:
    rate = Decimal(input_per_mtok)
    return {
        "model": model,
        "input_per_mtok": rate,
        "output_per_mtok": Decimal(output_per_mtok),
        "cache_write_per_mtok": rate * CACHE_WRITE,
        "cache_write_1h_per_mtok": rate * CACHE_WRITE_1H,
        "cache_read_per_mtok": rate * CACHE_READ,
        "batch_discount": BATCH_DISCOUNT,
    }


# Dated ids sit beside their aliases: a reply may name the dated id that served it.
CLAUDE_PRICES: list[dict[str, Any]] = [
    # Opus 4.5 to 5: $5 in, $25 out.
    _price("claude-opus-4-5", "5", "25"),
    _price("claude-opus-4-5-20251101", "5", "25"),
    _price("claude-opus-4-6", "5", "25"),
    _price("claude-opus-4-7", "5", "25"),
    _price("claude-opus-4-8", "5", "25"),
    _price("claude-opus-5", "5", "25"),
    # Sonnet 5 and 5.5: $2 in, $10 out.
    _price("claude-sonnet-5", "2", "10"),
    _price("claude-sonnet-5-5", "2", "10"),
    # Sonnet 4.5 and 4.6 are not on the pricing page copy we saw; $3 / $15 is what
    # every Sonnet 4.x was published at, so it is the best seed. Admins can correct it.
    _price("claude-sonnet-4-5", "3", "15"),
    _price("claude-sonnet-4-5-20250929", "3", "15"),
    _price("claude-sonnet-4-6", "3", "15"),
    # Haiku 4.5: $1 in, $5 out. (Haiku 5.5 has no published price we have seen.)
    _price("claude-haiku-4-5", "1", "5"),
    _price("claude-haiku-4-5-20251001", "1", "5"),
    # The rule-based stand-in costs nothing.
    {
        "model": "offline-rules",
        "input_per_mtok": Decimal("0"),
        "output_per_mtok": Decimal("0"),
        "cache_write_per_mtok": Decimal("0"),
        "cache_write_1h_per_mtok": Decimal("0"),
        "cache_read_per_mtok": Decimal("0"),
        "batch_discount": Decimal("0"),
    },
]


def seed_prices() -> int:
    """Add a ModelPrice row for every entry above that is missing; returns how
    many were added. Rows that exist are left alone: `make run` seeds on every
    start, and an admin's edited price must survive it."""
    from orchestrator.models import ModelPrice

    added = 0
    for entry in CLAUDE_PRICES:
        values = {k: v for k, v in entry.items() if k != "model"}
        added += ModelPrice.objects.get_or_create(model=entry["model"], defaults=values)[1]
    return added
