"""A run's steps laid out on a time axis: the waterfall on the trace page.

Geometry is computed here, in SVG user units, so the template only draws."""

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.models import Step

LABEL_WIDTH = 230  # room for step keys on the left
AXIS_WIDTH = 760
ROW_HEIGHT = 24


@dataclass(frozen=True)
class Row:
    step: Step
    label: str
    y: int
    wait_x: float  # queued ...
    x: float  # ... started ...
    w: float  # ... and how long it ran (to now, while running)
    attempts: list[dict] = field(default_factory=list)

    @property
    def wait_w(self) -> float:
        return max(self.x - self.wait_x, 0.0)


def waterfall(steps: list[Step], now: datetime, labels: dict[int, str] | None = None) -> dict:
    """One row per step, in the order the steps were queued, so parallel steps
    sit on their own rows side by side in time. `labels` (by step id) name the
    steps of nested runs by their place under the step that started them."""
    labels = labels or {}
    if not steps:
        return {"rows": [], "total_ms": 0, "ticks": [], "height": 40}
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
            )
        )
    height = len(rows) * ROW_HEIGHT + 24
    ticks = [
        {"px": LABEL_WIDTH + AXIS_WIDTH * share, "label": f"{total_ms * share / 1000:.2f} s"}
        for share in (0, 0.25, 0.5, 0.75, 1)
    ]
    return {"rows": rows, "total_ms": round(total_ms), "ticks": ticks, "height": height}
