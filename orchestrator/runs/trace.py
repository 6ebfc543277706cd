"""A run's steps laid out on a time axis: the waterfall on the trace page.

Geometry is computed here, in SVG user units, so the template only draws."""

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.models import Step

LABEL_WIDTH = 230  # room for step keys on the left
AXIS_WIDTH = 490
NOTE_X = LABEL_WIDTH + AXIS_WIDTH + 16  # each bar's figures, right of the axis
WIDTH = 1000
ROW_HEIGHT = 26


def duration(ms: float | None) -> str:
    """A duration people read at a glance: 840 ms, 2.4 s, 3 min 5 s."""
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


@dataclass(frozen=True)
class Row:
    step: Step
    label: str
    y: int
    wait_x: float  # queued ...
    x: float  # ... started ...
    w: float  # ... and how long it ran (to now, while running)
    attempts: list[dict] = field(default_factory=list)
    wait_ms: float | None = None  # in the queue, before a worker took it
    call_ms: float | None = None  # from a worker taking it to its end (to now, while running)

    @property
    def wait_w(self) -> float:
        return max(self.x - self.wait_x, 0.0)

    @property
    def text_y(self) -> int:
        return self.y + 16

    @property
    def note(self) -> str:
        """The bar's figures: how long it ran, how long it waited, tokens and cost."""
        step = self.step
        parts = [duration(self.call_ms) + (" so far" if step.started_at and not step.finished_at else "")]
        if self.wait_ms is not None and self.wait_ms >= 1:
            parts.append(f"wait {duration(self.wait_ms)}")
        if step.input_tokens or step.output_tokens:
            parts.append(f"{step.input_tokens:,}→{step.output_tokens:,} tok")
        if step.cost:
            parts.append(f"${step.cost:.4f}")
        return " · ".join(parts)


def waterfall(steps: list[Step], now: datetime, labels: dict[int, str] | None = None) -> dict:
    """One row per step, in the order the steps were queued, so parallel steps
    sit on their own rows side by side in time. `labels` (by step id) name the
    steps of nested runs by their place under the step that started them."""
    labels = labels or {}
    if not steps:
        return {"rows": [], "total_ms": 0, "ticks": [], "height": 40, "width": WIDTH, "note_x": NOTE_X}
    origin = min(step.queued_at for step in steps)
    finish = max(max(step.finished_at or now, step.queued_at) for step in steps)
    total_ms = max((finish - origin).total_seconds() * 1000, 1.0)

    def px(moment: datetime | None) -> float:
        offset = ((moment or now) - origin).total_seconds() * 1000
        return round(LABEL_WIDTH + offset / total_ms * AXIS_WIDTH, 1)

    rows = []
    for index, step in enumerate(sorted(steps, key=lambda s: (s.queued_at, s.key))):
        start = px(step.started_at or step.queued_at)
        end = px(step.finished_at) if step.started_at else start
        attempts = [
            {
                "px": px(datetime.fromisoformat(attempt["at"])),
                "failed": bool(attempt.get("error_class")),
                "label": f"attempt {attempt.get('number')}: "
                + (f"{attempt['error_class']}: {attempt.get('error', '')}" if attempt.get("error_class") else "ok"),
            }
            for attempt in step.attempts
            if attempt.get("at")
        ]
        rows.append(
            Row(
                step=step,
                label=labels.get(step.pk, step.key),
                y=index * ROW_HEIGHT,
                wait_x=px(step.queued_at),
                x=start,
                w=max(end - start, 2),
                attempts=attempts,
                wait_ms=_ms(step.queued_at, step.started_at or (None if step.finished_at else now)),
                call_ms=step.latency_ms
                if step.latency_ms is not None and step.finished_at
                else (_ms(step.started_at, step.finished_at or now) if step.started_at else None),
            )
        )
    height = len(rows) * ROW_HEIGHT + 24
    # The first label starts at its tick and the last ends at it: none runs off the chart.
    anchors = {0: "start", 1: "end"}
    ticks = [
        {
            "px": LABEL_WIDTH + AXIS_WIDTH * share,
            "label": duration(total_ms * share),
            "anchor": anchors.get(share, "middle"),
        }
        for share in (0, 0.25, 0.5, 0.75, 1)
    ]
    return {
        "rows": rows,
        "total_ms": round(total_ms),
        "total": duration(total_ms),
        "ticks": ticks,
        "height": height,
        "width": WIDTH,
        "note_x": NOTE_X,
        "axis_end": LABEL_WIDTH + AXIS_WIDTH,
    }


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds() * 1000, 0.0)
