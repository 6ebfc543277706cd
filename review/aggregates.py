"""Database aggregates the reporting pages share: review's metrics and the
insights dashboard (which imports review, never the other way round)."""

from django.db.models import Aggregate, FloatField


class Percentile(Aggregate):
    """PostgreSQL's exact PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expression),
    interpolated between neighbours; NULLs (nothing measured) are left out."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)
