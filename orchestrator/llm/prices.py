"""What a model call costs: the Price value the engine and the estimator charge
with, and the seed prices for the ModelPrice table, in dollars per million tokens.

The rates live in the database (admins edit them; ModelPrice.price_for hands
out a Price); this module never reads the database, so the providers and their
tests need no Django models. Seeding again adds missing models and leaves
edited rows alone (orchestrator.demo.seed.seed_prices).

From Anthropic's published pricing (see STACK-NOTES.md): cache writes cost 1.25x
input for the 5-minute cache (the one this app asks for) and 2x for the 1-hour
cache, cache reads 0.1x input, batches half price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from . import Usage

CACHE_WRITE = Decimal("1.25")
CACHE_WRITE_1H = Decimal("2")
CACHE_READ = Decimal("0.1")
BATCH_DISCOUNT = Decimal("0.5")
MILLION = Decimal(1_000_000)
# Steps store cost to six decimal places: a millionth of a dollar.
MICRODOLLAR = Decimal("0.000001")


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of each kind, and the batch multiplier. The
    field names are ModelPrice's column names, so a Price and a row convert
    field for field."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_write_per_mtok: Decimal  # the 5-minute cache
    cache_write_1h_per_mtok: Decimal
    cache_read_per_mtok: Decimal
    batch_discount: Decimal = BATCH_DISCOUNT

    def cost(self, usage: Usage, batch: bool = False) -> Decimal:
        """Dollars for one call's usage, to the millionth. Each kind of token at
        its own rate: providers report them apart (see Usage), so none is
        charged twice."""
        total = (
            usage.input_tokens * self.input_per_mtok
            + usage.output_tokens * self.output_per_mtok
            + usage.cache_write_tokens * self.cache_write_per_mtok
            + usage.cache_write_1h_tokens * self.cache_write_1h_per_mtok
            + usage.cache_read_tokens * self.cache_read_per_mtok
        )
        if batch:
            total *= self.batch_discount
        return (total / MILLION).quantize(MICRODOLLAR)

    def as_record(self) -> dict[str, str]:
        """The rates as strings, for a step to keep beside its cost: a later price
        change must not rewrite what past steps cost."""
        return {name: str(value) for name, value in asdict(self).items()}


def cache_saving(price: dict[str, Any] | None, read_tokens: int, write_tokens: int) -> Decimal:
    """What the prompt cache saved one step, in dollars, from the rates it was
    charged at (Step.price): each token read cost the read rate instead of the
    input rate, each written the write rate (1-hour in batch mode, as the
    provider asks there) on top of it. Negative when writes were not read back."""
    if not price or price.get("unpriced") or "input_per_mtok" not in price:
        return Decimal(0)
    rate = Decimal(price["input_per_mtok"])
    write_rate = Decimal(price["cache_write_1h_per_mtok" if price.get("batch") else "cache_write_per_mtok"])
    saved = read_tokens * (rate - Decimal(price["cache_read_per_mtok"])) - write_tokens * (write_rate - rate)
    if price.get("batch"):
        saved *= Decimal(price.get("batch_discount", BATCH_DISCOUNT))
    return (saved / MILLION).quantize(MICRODOLLAR)


def claude(input_per_mtok: str, output_per_mtok: str) -> Price:
    """A Claude price from its input and output rates; the cache rates follow
    from the input rate by Anthropic's multipliers."""
    rate = Decimal(input_per_mtok)
    return Price(
        input_per_mtok=rate,
        output_per_mtok=Decimal(output_per_mtok),
        cache_write_per_mtok=rate * CACHE_WRITE,
        cache_write_1h_per_mtok=rate * CACHE_WRITE_1H,
        cache_read_per_mtok=rate * CACHE_READ,
    )


FREE = Price(*(Decimal(0),) * 6)

# Dated ids sit beside their aliases: a reply may name the dated id that served it.
SEED_PRICES: dict[str, Price] = {
    # Opus 4.5 to 5: $5 in, $25 out.
    "claude-opus-4-5": claude("5", "25"),
    "claude-opus-4-5-20251101": claude("5", "25"),
    "claude-opus-4-6": claude("5", "25"),
    "claude-opus-4-7": claude("5", "25"),
    "claude-opus-4-8": claude("5", "25"),
    "claude-opus-5": claude("5", "25"),
    # Sonnet 5 and 5.5: $2 in, $10 out.
    "claude-sonnet-5": claude("2", "10"),
    "claude-sonnet-5-5": claude("2", "10"),
    # Sonnet 4.5 and 4.6 are not on the pricing page copy we saw; $3 / $15 is what
    # every Sonnet 4.x was published at, so it is the best seed. Admins can correct it.
    "claude-sonnet-4-5": claude("3", "15"),
    "claude-sonnet-4-5-20250929": claude("3", "15"),
    "claude-sonnet-4-6": claude("3", "15"),
    # Haiku 4.5: $1 in, $5 out. (Haiku 5.5 has no published price we have seen.)
    "claude-haiku-4-5": claude("1", "5"),
    "claude-haiku-4-5-20251001": claude("1", "5"),
    # The rule-based stand-in costs nothing.
    "offline-rules": FREE,
}
