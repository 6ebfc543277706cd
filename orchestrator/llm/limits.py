"""Provider rate limits shared by every worker on every machine: one Lua script
in Redis checks and takes a slot against an admin-set ProviderLimit (calls in
flight, requests and tokens per sliding minute) atomically, so two workers can
never both take the last slot.

A concurrency slot is a lease held by a step's job: it is freed when the job
gives it back, when the job's heartbeat stops (a worker killed mid-call frees
its slot within the heartbeat's TTL, not after the call's whole timeout: workers
killed in a deploy would otherwise starve every step of the provider for minutes)
and, as a backstop, when it runs out (the agent's timeout and a margin).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError
from rq import get_current_job

from orchestrator import jobs

# KEYS: in-flight leases, requests, tokens (sorted sets scored by time)
# ARGV: lease id, lease seconds, max concurrent, rpm, tpm, tokens (0 = no limit),
#       the prefix of the jobs' heartbeat keys (jobs.alive_key)
# A lease id is "<job id>|<random>": a lease whose job's heartbeat key is gone is
# dropped. (The heartbeat keys are not among KEYS: one Redis, not a cluster.)
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local id, lease = ARGV[1], tonumber(ARGV[2])
local conc, rpm, tpm, tokens = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local job = string.match(member, '^(.+)|')
  if job and redis.call('EXISTS', ARGV[7] .. job) == 0 then
    redis.call('ZREM', KEYS[1], member)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t - 60)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', t - 60)
local wait = 0
if conc > 0 and redis.call('ZCARD', KEYS[1]) >= conc then
  wait = 1
end
if rpm > 0 and redis.call('ZCARD', KEYS[2]) >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 60 - t)
end
if tpm > 0 then
  local used = 0
  local entries = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    used = used + tonumber(string.match(entries[i], ':(%d+)$'))
  end
  if used > 0 and used + tokens > tpm then
    wait = math.max(wait, tonumber(entries[2]) + 60 - t)
  end
end
if wait > 0 then
  return tostring(wait)
end
if conc > 0 then redis.call('ZADD', KEYS[1], t + lease, id) end
if rpm > 0 then redis.call('ZADD', KEYS[2], t, id) ; redis.call('EXPIRE', KEYS[2], 120) end
if tpm > 0 then redis.call('ZADD', KEYS[3], t, id .. ':' .. tokens) ; redis.call('EXPIRE', KEYS[3], 120) end
return '0'
"""


@dataclass
class Lease:
    key: str = ""
    id: str = ""

    def release(self) -> None:
        """Give the concurrency slot back (requests and tokens stay counted for their minute)."""
        if self.key:
            with contextlib.suppress(RedisError):  # else the lease expires on its own
                jobs.redis().zrem(self.key, self.id)
            self.key = ""


def _keys(provider: str, model: str) -> list[str]:
    base = f"quorum:limit:{provider}:{model or '*'}"
    return [f"{base}:inflight", f"{base}:requests", f"{base}:tokens"]


def try_acquire(provider: str, model: str, tokens: int, lease_s: int, holder: str | None = None) -> Lease | float:
    """A Lease when the call may go now, else the seconds to wait before asking
    again. No limit set (or Redis down): always a lease, an empty one. `holder`:
    the job whose heartbeat keeps the lease (by default the job running this)."""
    from orchestrator.models import ProviderLimit

    limit = ProviderLimit.for_call(provider, model)
    if limit is None:
        return Lease()
    keys = _keys(limit.provider, limit.model)
    if holder is None:
        job = get_current_job()
        holder = job.id if job else ""
    # Outside a job (a shell, a test) nothing beats for the lease: it only runs out.
    lease_id = f"{holder}|{uuid.uuid4().hex}" if holder else uuid.uuid4().hex
    try:
        connection = jobs.redis()
        waited = float(
            connection.eval(
                _TAKE,
                3,
                *keys,
                lease_id,
                lease_s,
                limit.max_concurrent or 0,
                limit.requests_per_minute or 0,
                limit.tokens_per_minute or 0,
                max(tokens, 1),
                jobs.alive_key(""),
            )  # fmt: skip
        )
    except RedisError:
        return Lease()  # no Redis, no queue either: the provider's own 429 is the limit then
    if waited > 0:
        return waited
    return Lease(keys[0] if limit.max_concurrent else "", lease_id)


def estimate_tokens(request) -> int:
    """What a call may use against tokens per minute: its prompt (4 characters a
    token) and the output it may write."""
    characters = len(request.system or "") + sum(len(str(message.get("content", ""))) for message in request.messages)
    return characters // 4 + request.max_tokens


DEFERRED_KEY = "quorum:limit:deferred"


def count_deferral() -> None:
    """Count a step put back for its rate limit (make chaos reports the share)."""
    with contextlib.suppress(RedisError):
        jobs.redis().incr(DEFERRED_KEY)
