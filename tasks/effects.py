"""`effects`: what a completion earned, as API.md shows it to the client.

`{points_awarded, xp_awarded, breakdown[{reason, amount}], level_up?{from, to}, badges_awarded[],
streak{daily, weekly}}` (camelCased on the wire). In-transaction subscribers of `task.completed`,
`task.reopened` and `challenge.completed` (gamification) return such dicts; `merge_effects`
combines them. With no subscriber answering, the result is `zero_effects()`.
"""

from __future__ import annotations

from deepiri.api.casing import to_snake

SUMMED = ("points_awarded", "xp_awarded")
CONCATENATED = ("breakdown", "badges_awarded")


def zero_effects() -> dict:
    """Nothing earned. `level_up` appears only when a level changed; `streak` is None when no
    subscriber reported one (gamification always does)."""
    return {"points_awarded": 0, "xp_awarded": 0, "breakdown": [], "badges_awarded": [], "streak": None}


def merge_effects(results) -> dict:
    merged = zero_effects()
    for result in results or ():
        if not isinstance(result, dict):
            continue
        for raw_key, value in result.items():
            key = to_snake(raw_key)
            if key in SUMMED:
                merged[key] += value or 0
            elif key in CONCATENATED:
                merged[key] = merged[key] + list(value or [])
            elif value is not None:
                merged[key] = value
    return merged
