"""How long a model API asked us to wait before trying again, capped.

Providers construct their SDK clients with max_retries=0 and raise TransientError
with this figure, so the engine's loop is the only retry loop and every attempt
lands in the step's trace. The cap matters: the SDKs honour any retry-after,
and a 429 saying "come back in an hour" must not park a worker for an hour.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from django.conf import settings

DEFAULT_CAP_S = 20.0


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
