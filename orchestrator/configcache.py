"""What every step reads and admins rarely change (model prices, provider limits,
pipelines' slots and agents, the active prompt and rubric versions), kept in
each worker process between steps instead of queried for every one.

Exact, not time-limited: saving or deleting one of the models below writes a new
token to Redis (when saved and again once committed), and a process that finds
another token there than the one its cache was filled under empties it. So an
admin's price edit applies to the very next step on every worker. Without Redis
nothing is cached. Bulk `QuerySet.update()` sends no signal: code that changes
these models that way calls changed() itself.
"""

import logging
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TOKEN_KEY = "quorum:config-token"  # noqa: S105 - a Redis key, not a secret

_values: dict[Hashable, object] = {}
_filled_under: bytes | None = None
_held: ContextVar[bytes | None] = ContextVar("configcache_token", default=None)  # see one_look()


def cached[T](key: Hashable, load: Callable[[], T]) -> T:
    """`load()`'s value for `key`, loaded again after any change to the models below."""
    global _filled_under
    token = _held.get() or _token()
    if token is None:
        return load()
    if token != _filled_under:
        _values.clear()
        _filled_under = token
    if key not in _values:
        _values[key] = load()
    return _values[key]  # type: ignore[return-value]


@contextmanager
def one_look() -> Iterator[None]:
    """Within the block (one step's job) Redis is asked for the token once: what
    was current when the step began is what it runs with."""
    reset = _held.set(_token())
    try:
        yield
    finally:
        _held.reset(reset)


def changed(**_signal_kwargs) -> None:
    """Tell every process its cached values are stale: now, and again once the
    change commits (a process that read the old rows between the two refills)."""
    forget()
    transaction.on_commit(forget)


def forget() -> None:
    """Empty every process's cache now (tests: each starts on a new database)."""
    _values.clear()
    _new_token()


def _token() -> bytes | None:
    from .jobs import redis

    try:
        return redis().get(TOKEN_KEY) or b"none"
    except RedisError:
        return None


def _new_token() -> None:
    from .jobs import redis

    try:
        redis().set(TOKEN_KEY, uuid.uuid4().hex)
    except RedisError:
        # Redis is down: the token it comes back with (none, after a restart) differs anyway.
        log.warning("could not mark the configuration changed in Redis")


def connect() -> None:
    """Called from OrchestratorConfig.ready()."""
    from .models import Agent, ModelPrice, Pipeline, PipelineSlot, Prompt, ProviderLimit, Rubric

    # Versions are immutable; activating one saves its Prompt or Rubric.
    for model in (Agent, ModelPrice, Pipeline, PipelineSlot, Prompt, ProviderLimit, Rubric):
        post_save.connect(changed, sender=model, dispatch_uid=f"configcache-save-{model.__name__}")
        post_delete.connect(changed, sender=model, dispatch_uid=f"configcache-delete-{model.__name__}")
