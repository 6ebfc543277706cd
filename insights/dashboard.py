"""Per-pipeline figures by day, and the geometry of the small charts that show
them (server-drawn SVG: no chart library, no CDN)."""

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property, lru_cache
from html import escape

from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from orchestrator.models import Pipeline

from . import days as rollup


@dataclass(frozen=True)
class Day:
    day: date
    runs: int = 0
    spend: float = 0.0
    p50_s: float | None = None
    p95_s: float | None = None
    failure_rate: float | None = None
    disagreement_rate: float | None = None
    overturn_rate: float | None = None
    decisions: int = 0


def daily(pipeline: Pipeline, days: int = 30, today: date | None = None) -> list[Day]:
    """The pipeline's figures for each of the `days` days up to `today` (default: the
    local date now), oldest first; a day without runs has counts of 0 and no rates."""
    return daily_by_pipeline([pipeline], days, today)[pipeline.pk]


def daily_by_pipeline(pipelines: list[Pipeline], days: int = 30, today: date | None = None) -> dict[int, list[Day]]:
    """daily() for each of `pipelines`, by pipeline id, in one query for them all
    (the dashboard shows every active pipeline), from the roll-up by day (insights.days)."""
    today = today or timezone.localdate()
    since = today - timedelta(days=days - 1)
    by_day = rollup.figures([pipeline.pk for pipeline in pipelines], since, today)
    return {pipeline.pk: _series(pipeline.pk, since, days, by_day) for pipeline in pipelines}


def _series(pipeline: int, since: date, days: int, by_day: dict) -> list[Day]:
    series = []
    for offset in range(days):
        day = since + timedelta(days=offset)
        row = by_day.get((pipeline, day))
        if row is None:
            series.append(Day(day))
            continue
        compared = row["agreed"] + row["disputed"]
        series.append(
            Day(
                day=day,
                runs=row["runs"],
                spend=float(row["spend"]),
                p50_s=row["p50_s"],
                p95_s=row["p95_s"],
                failure_rate=_rate(row["failed"], row["finished"]),
                disagreement_rate=_rate(row["disputed"], compared),
                # Decisions on disagreements that went against the judge.
                overturn_rate=_rate(row["overturned"], row["decisions"]),
                decisions=row["decisions"],
            )
        )
    return series


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# The chart's box and the margins that hold its axis labels, in SVG units.
CHART_W, CHART_H = 320, 150
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 46, 10, 10, 26


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value`:
    an axis top people can read."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(power * step for step in (1, 2, 2.5, 5, 10) if power * step >= value * (1 - 1e-9))


def _label(value: float, unit: str) -> str:
    number = f"{value:,.0f}" if value >= 100 or float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
    if unit == "$":
        return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"
    if unit == "%":
        return f"{number}%"
    return (
        f"{number} {unit.removesuffix('s')}"
        if value == 1 and unit.endswith("s") and unit != "s"
        else f"{number} {unit}"
    )


_CENT = Decimal("0.01")


def two_places(value: float, separator: str | None = None) -> str:
    """floatformat(value, 2), as the page writes a chart's numbers, without the format
    lookups it makes on every call (1,300 values a page, most of a chart's time):
    the value's shortest repr rounded half up to cents, with the active locale's
    decimal separator (`separator`, when the caller looked it up once for many values).
    Where floatformat would group thousands, or the value is too large for the decimal
    context, floatformat itself."""
    if settings.USE_THOUSAND_SEPARATOR or not math.isfinite(value) or abs(value) >= 1e20:
        return floatformat(value, 2)
    rounded = Decimal(repr(value)).quantize(_CENT, ROUND_HALF_UP)
    whole, cents = f"{abs(rounded):f}".split(".")
    sign = "-" if rounded < 0 else ""  # floatformat drops the sign of a value that rounds to zero
    return f"{sign}{whole}{separator or get_format('DECIMAL_SEPARATOR')}{cents}"


@lru_cache(maxsize=1024)
def _tick_label(day: date) -> str:
    """The day under the axis, "Mar 5": the same three days label every chart of a page."""
    return day.strftime("%b %-d")


@lru_cache(maxsize=1024)
def _day_label(day: date, language: str | None) -> str:
    """The day as "Mar 5" in the active language, escaped: the same days label every
    chart of a pipeline."""
    return escape(date_format(day, "M j"))


@dataclass(frozen=True)
class Chart:
    """One figure per day for a window of days, drawn as bars (counts, money)
    or as a line with a dot on every day that has a value (durations, rates),
    so that a single day of data is still a visible mark. Each figure is worked
    out once (cached), however often the template reads it."""

    title: str
    unit: str
    points: list[tuple[date, float | None]]
    kind: str = "bar"  # bar | line
    empty_text: str = "No runs yet"

    @cached_property
    def values(self) -> list[float]:
        return [value for _, value in self.points if value is not None]

    @cached_property
    def has_data(self) -> bool:
        return any(self.values) if self.kind == "bar" else bool(self.values)

    @cached_property
    def peak(self) -> float:
        return max(self.values, default=0.0)

    @cached_property
    def top(self) -> float:
        return nice_ceiling(self.peak)

    @cached_property
    def summary(self) -> str:
        """The numbers beside the chart: a total for counts and money, the
        latest and the highest value for durations and rates."""
        if not self.has_data:
            return self.empty_text
        if self.kind == "bar":
            return f"{_label(sum(self.values), self.unit)} in total, at most {_label(self.peak, self.unit)} a day"
        latest = next(value for _, value in reversed(self.points) if value is not None)
        return f"latest {_label(latest, self.unit)}, highest {_label(self.peak, self.unit)}"

    def _x(self, index: int) -> float:
        slot = (CHART_W - PLOT_LEFT - PLOT_RIGHT) / max(len(self.points), 1)
        return PLOT_LEFT + slot * (index + 0.5)

    def _y(self, value: float) -> float:
        height = CHART_H - PLOT_TOP - PLOT_BOTTOM
        return CHART_H - PLOT_BOTTOM - value / self.top * height

    @cached_property
    def y_ticks(self) -> list[dict]:
        return [{"y": round(self._y(v), 1), "label": _label(v, self.unit)} for v in (0, self.top / 2, self.top)]

    @cached_property
    def x_ticks(self) -> list[dict]:
        """First, middle and last day, anchored so that no label runs off the box."""
        last = len(self.points) - 1
        picks = sorted({0, last // 2, last}) if last >= 0 else []
        anchor = {0: "start", last: "end"}
        return [
            {
                "x": round(self._x(i), 1),
                "label": _tick_label(self.points[i][0]),
                "anchor": anchor.get(i, "middle"),
            }
            for i in picks
        ]

    @cached_property
    def bars(self) -> list[dict]:
        slot = (CHART_W - PLOT_LEFT - PLOT_RIGHT) / max(len(self.points), 1)
        width = max(min(slot * 0.7, 40), 3)
        base = CHART_H - PLOT_BOTTOM
        out = []
        for i, (day, value) in enumerate(self.points):
            if not value:
                continue
            y = min(self._y(value), base - 2)  # a small value is still a visible bar
            out.append({"x": round(self._x(i) - width / 2, 1), "w": round(width, 1), "y": round(y, 1),
                        "h": round(base - y, 1), "day": day, "value": value, "title": self._titles[day]})  # fmt: skip
        return out

    @cached_property
    def dots(self) -> list[dict]:
        return [
            {
                "x": round(self._x(i), 1),
                "y": round(self._y(value), 1),
                "day": day,
                "value": value,
                "title": self._titles[day],
            }
            for i, (day, value) in enumerate(self.points)
            if value is not None
        ]

    @cached_property
    def _shown(self) -> dict[date, tuple[str, str]]:
        """Each day with a value as the page writes them ("Mar 5", "1.25"), escaped, worked
        out once per chart rather than by template filters per mark and per table row. A
        number is digits, a sign and the decimal separator, which is escaped here once."""
        language, separator = get_language(), escape(get_format("DECIMAL_SEPARATOR"))
        return {day: (_day_label(day, language), two_places(value, separator)) for day, value in self.points
                if value is not None}  # fmt: skip

    @cached_property
    def _titles(self) -> dict[date, str]:
        return {day: f"{label}: {value}" for day, (label, value) in self._shown.items()}

    @cached_property
    def rows(self) -> str:
        """The numbers behind the chart as table rows, one per day with a value (written
        at once, like the marks: 30 rows a chart)."""
        shown = self._shown.items()
        cells = (f'<tr><td>{day.isoformat()}</td><td class="num">{value}</td></tr>' for day, (_, value) in shown)
        return mark_safe("".join(cells))  # noqa: S308 - dates and escaped text only

    @cached_property
    def marks(self) -> str:
        """The chart's marks as SVG, a bar or a dot per day with a value, each with its
        tooltip: written here at once, as a template loop would with eight lookups a
        mark (30 days, 7 charts a pipeline: most of the dashboard's time, bench.runpages).
        The tooltips are made of escaped parts; the coordinates are numbers this class
        worked out."""
        unit = escape(self.unit)
        if self.kind == "bar":
            marks = (
                f'<rect x="{b["x"]}" y="{b["y"]}" width="{b["w"]}" height="{b["h"]}" class="series mark">'
                f"<title>{b['title']} {unit}</title></rect>"
                for b in self.bars
            )
        else:
            marks = (
                f'<circle cx="{d["x"]}" cy="{d["y"]}" r="3.5" class="series mark">'
                f"<title>{d['title']} {unit}</title></circle>"
                for d in self.dots
            )
        return mark_safe("".join(marks))  # noqa: S308 - numbers and escaped text only

    @cached_property
    def polyline(self) -> str:
        return " ".join(f"{dot['x']},{dot['y']}" for dot in self.dots)

    @cached_property
    def svg(self) -> str:
        """The whole chart: value axis and grid, marks (or what to say when there are
        none), day axis. Written here in one go, as marks() is: 105 charts a page, whose
        template loops cost more than the rest of the dashboard (bench.runpages). The
        coordinates are numbers this class worked out; every text is escaped (with
        html.escape: what Django's escape() does, without its lazy-string wrapper)."""
        left, right, bottom = PLOT_LEFT, CHART_W - PLOT_RIGHT, CHART_H - PLOT_BOTTOM
        label = escape(f"{self.title} per day: {self.summary}")
        parts = [f'<svg viewBox="0 0 {CHART_W} {CHART_H}" width="100%" role="img" aria-label="{label}">']
        if self.has_data:
            for tick in self.y_ticks:
                parts.append(
                    f'<line x1="{left}" x2="{right}" y1="{tick["y"]}" y2="{tick["y"]}" class="grid"/>'
                    f'<text x="{left - 4}" y="{tick["y"]}" class="tick-label" text-anchor="end" '
                    f'dominant-baseline="middle">{escape(tick["label"])}</text>'
                )
            if self.kind != "bar":
                parts.append(f'<polyline points="{self.polyline}" class="series-line"/>')
            parts.append(self.marks)
        else:
            parts.append(
                f'<text x="{(left + right) / 2}" y="{(PLOT_TOP + bottom) / 2}" class="empty-label" '
                f'text-anchor="middle" dominant-baseline="middle">{escape(self.empty_text)}</text>'
            )
        parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" class="axis"/>')
        parts += [
            f'<text x="{tick["x"]}" y="{CHART_H - 8}" class="tick-label" text-anchor="{tick["anchor"]}">'
            f"{escape(tick['label'])}</text>"
            for tick in self.x_ticks
        ]
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def charts(series: list[Day]) -> list[Chart]:
    def points(name: str, scale: float = 1.0) -> list[tuple[date, float | None]]:
        return [(d.day, None if getattr(d, name) is None else getattr(d, name) * scale) for d in series]

    return [
        Chart("Runs", "runs", points("runs")),
        Chart("Spend", "$", points("spend"), "bar", "Nothing spent in these days"),
        Chart("Latency p50", "s", points("p50_s"), "line"),
        Chart("Latency p95", "s", points("p95_s"), "line"),
        Chart("Failure rate", "%", points("failure_rate", 100), "line"),
        # Days with runs but no findings to compare (a Chain, a Supervisor) have no rate:
        # "No runs yet" beside a Runs chart that shows runs would be untrue.
        Chart("Disagreement rate", "%", points("disagreement_rate", 100), "line", "No findings compared yet"),
        Chart("Judge overturn rate", "%", points("overturn_rate", 100), "line", "No review decisions yet"),
    ]
