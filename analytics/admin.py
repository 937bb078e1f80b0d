"""Analytics in the admin.

Analytics keeps no relational tables (its rollups live in MongoDB), so there is no model screen;
the user's page shows this week's figures from `analytics.selectors.stats`, read-only. A MongoDB
outage shows as "unavailable" on that page, never as an error.
"""

from __future__ import annotations

import logging

from django.utils.html import format_html

from analytics import selectors

logger = logging.getLogger(__name__)


def week_summary_html(user) -> str:
    try:
        stats = selectors.stats(user, "week")
    except Exception:  # MongoDB down or unreachable: the rest of the page still works
        logger.warning("analytics unavailable for the admin page of %s", user.pk, exc_info=True)
        return "Analytics unavailable (MongoDB did not answer)."
    return format_html(
        "Week from {} to {} (the user's time zone): {} tasks completed, {} created, {} challenges completed, "
        "{} minutes spent, {} points and {} badges earned, average efficiency {}.",
        stats["start"],
        stats["end"],
        stats["total_tasks_completed"],
        stats["total_tasks_created"],
        stats["total_challenges_completed"],
        stats["total_time_spent"],
        stats["total_points_earned"],
        stats["total_badges_earned"],
        stats["average_efficiency"],
    )

