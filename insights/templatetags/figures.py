"""Template filters for the figures the insights pages write by the hundred."""

from django import template

from insights.dashboard import two_places as _two_places

register = template.Library()


@register.filter(is_safe=True)
def two_places(value: float | None) -> str:
    """`|floatformat:2` for numbers (as dashboard.two_places), "" for None as floatformat gives."""
    return "" if value is None else _two_places(value)
