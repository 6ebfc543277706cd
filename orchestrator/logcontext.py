"""Every log line written while a step runs names its run and step, so an
engineer can grep a worker's log for one run."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[tuple[int | None, int | None]] = ContextVar("quorum_step", default=(None, None))


@contextmanager
def step_context(run_id: int, step_id: int) -> Iterator[None]:
    token = _current.set((run_id, step_id))
    try:
        yield
    finally:
        _current.reset(token)


class StepFilter(logging.Filter):
    """Adds `run` and `step` to every record ("-" outside a step)."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id, step_id = _current.get()
        record.run = run_id if run_id is not None else "-"
        record.step = step_id if step_id is not None else "-"
        return True
