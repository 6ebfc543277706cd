"""The order of the inbox: how its items are listed, and stepping from one
item to its neighbours in that same order (j / k, and the next item to open
after a decision), so the item page walks the list the reviewer filtered."""

import operator
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce

from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from .models import JUDGE_CONFIDENCE, ReviewItem, sla

# What each sortable inbox column orders by; the age breaks ties, the id last of all
# (added by Order) so that rows keep their places between refreshes.
SORTS = {
    "age": (F("created_at"),),
    "reason": (F("reason"), F("created_at")),
    "pipeline": (F("pipeline__name"), F("created_at")),
    "document": (F("run__document__original_name"), F("created_at")),
    "judge": (JUDGE_CONFIDENCE, F("created_at")),
}
SORT_CHOICES = [(name, name) for name in SORTS] + [(f"-{name}", f"-{name}") for name in SORTS]


@dataclass(frozen=True)
class Order:
    """One way of ordering the inbox, as a list of keys that never tie."""

    sort: str = "age"  # a key of SORTS, "-" in front for descending (the table's ?sort=)
    overdue_first: bool = False
    now: datetime = field(default_factory=timezone.now)

    def keys(self) -> list[tuple[str, object, bool]]:
        """[(alias, expression, descending)]."""
        descending = self.sort.startswith("-")
        keys = []
        # Oldest first already puts the overdue first; leaving the key out then
        # keeps the order on the pending items' index.
        if self.overdue_first and self.sort != "age":
            overdue = Case(When(created_at__lte=self.now - sla(), then=Value(0)), default=Value(1))
            keys.append(("_overdue", overdue, False))
        for number, expression in enumerate(SORTS[self.sort.lstrip("-")]):
            keys.append((f"_k{number}", expression, descending))
        keys.append(("_id", F("id"), descending))
        return keys

    def apply(self, items: QuerySet, backwards: bool = False) -> QuerySet:
        keys = self.keys()
        ordering = [F(alias).desc() if descending != backwards else F(alias).asc() for alias, _, descending in keys]
        return items.alias(**{alias: expression for alias, expression, _ in keys}).order_by(*ordering)

    def after(self, items: QuerySet, item: ReviewItem, backwards: bool = False) -> QuerySet:
        """The items that come after `item` in this order (before it, backwards),
        nearest first. `item` need not be among `items`: a decided item still
        has its place, so the next one is found from there."""
        keys = self.keys()
        position = (
            ReviewItem.objects.annotate(**{alias: expression for alias, expression, _ in keys})
            .filter(pk=item.pk)
            .values_list(*[alias for alias, _, _ in keys])
            .first()
        )
        if position is None:
            return self.apply(items, backwards)
        # Keyset: (k0, k1, ...) strictly after the item's own keys. The first
        # key's range condition alone lets PostgreSQL start the index scan there.
        later, equal = [], Q()
        for (alias, _, descending), value in zip(keys, position, strict=True):
            upwards = descending == backwards
            later.append(equal & Q(**{f"{alias}__{'gt' if upwards else 'lt'}": value}))
            equal &= Q(**{alias: value})
        first_alias, _, first_descending = keys[0]
        start = Q(**{f"{first_alias}__{'gte' if first_descending == backwards else 'lte'}": position[0]})
        return self.apply(items, backwards).filter(start, reduce(operator.or_, later))

    def neighbour(self, items: QuerySet, item: ReviewItem, backwards: bool = False) -> ReviewItem | None:
        return self.after(items, item, backwards).first()


def next_for(user, items: QuerySet, item: ReviewItem, order: Order) -> ReviewItem | None:
    """The item `user` should work on after `item`, claimed for them: the next
    one in the inbox's order that nobody else holds, wrapping round to the top
    for any that were skipped. Claiming can lose a race, so a few are tried."""
    # Escalated items wait for an admin, who opens them from the inbox.
    candidates = items.takeable_by(user).exclude(pk=item.pk).exclude(escalated=True)
    for batch in (order.after(candidates, item), order.apply(candidates)):
        for candidate in batch[:20]:
            if candidate.claim(user):
                return candidate
    return None
