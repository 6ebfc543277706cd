"""Which failed model calls are worth trying again, and how long the API asked
us to wait first (capped): the one reading of HTTP errors both real providers use.

Providers construct their SDK clients with max_retries=0 and raise TransientError
with this figure, so the engine's loop is the only retry loop: every attempt lands
in the step's trace, and no SDK retries hide inside one engine attempt. The cap
keeps a 429 saying "come back in an hour" from parking a worker for an hour (the
anthropic SDK, left to retry, would sleep out whatever retry-after it is sent).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from django.conf import settings

from . import PermanentError, ProviderError, TransientError

DEFAULT_CAP_S = 20.0
# 408 (request timeout), 409 (conflict) and 429 (rate limited) are the "try again"
# among the 4xx; every 5xx (and Anthropic's 529, overloaded) may pass too. Any
# other status is the request's own fault and will fail the same way again.
TRANSIENT_4XX = frozenset({408, 409, 429})


def status_error(status: int, headers: Mapping[str, str] | None, message: str) -> ProviderError:
    """The error for a call the API answered with a failing HTTP status: transient
    (with the capped wait the API asked for) or permanent."""
    if is_transient(status, headers):
        return TransientError(message, retry_after=retry_after_s(headers))
    return PermanentError(message)


def is_transient(status: int, headers: Mapping[str, str] | None = None) -> bool:
    """Whether a call that failed with HTTP `status` may succeed if tried again.
    An x-should-retry header (Anthropic and OpenAI send one) is the API's own
    verdict, and beats our reading of the status."""
    should_retry = (headers or {}).get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return status in TRANSIENT_4XX or status >= 500


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from retry-after-ms or retry-after (seconds or an HTTP
    date), at most QUORUM_RETRY_AFTER_CAP_S; None when the API did not say."""
    if headers is None:
        return None
    seconds = _parse(headers)
    if seconds is None:
        return None
    return min(seconds, float(getattr(settings, "QUORUM_RETRY_AFTER_CAP_S", DEFAULT_CAP_S)))


def _parse(headers: Mapping[str, str]) -> float | None:
    try:
        return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return max(0.0, email.utils.mktime_tz(parsed) - time.time()) if parsed else None
