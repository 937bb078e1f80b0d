"""django-axes' cache handler, able to lift every lockout at once (`manage.py axes_reset`).

The stock handler refuses a reset without an IP address or username ("Cannot clear all entries
from cache"): its keys are hashes it cannot list. Every key it writes starts with `axes-`, and the
cache is django-redis, which deletes by pattern (SCAN, within this cache's KEY_PREFIX), so this
one deletes them all. "IP or username" resets both sets of keys.
"""

from __future__ import annotations

import logging

from kernel.api.throttling import AxesHandler as LimitsAxesHandler

logger = logging.getLogger(__name__)

KEY_PATTERN = "axes-*"


class AxesCacheHandler(LimitsAxesHandler):
    """The lockout on the sign-in limits' cache (process memory while Redis is unreachable),
    plus a reset of every lockout."""

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username: bool = False) -> int:
        if ip_address is None and username is None:
            return self._reset_all()
        if ip_or_username:
            count = 0
            if ip_address is not None:
                count += super().reset_attempts(ip_address=ip_address)
            if username is not None:
                count += super().reset_attempts(username=username)
            return count
        return super().reset_attempts(ip_address=ip_address, username=username)

    def _reset_all(self) -> int:
        delete_pattern = getattr(self.cache, "delete_pattern", None)
        if delete_pattern is None:
            raise NotImplementedError("resetting every lockout needs a cache that deletes by pattern (django-redis)")
        count = int(delete_pattern(KEY_PATTERN) or 0)
        logger.info("AXES: reset %d cached login-failure counters", count)
        return count
