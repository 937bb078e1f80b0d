"""`Effects`: what a completion earned, as API.md shows it to the client.

Returned by gamification's `record_task_completion`, `record_task_reopen` and
`record_challenge_completion`, which the tasks and challenges services call directly inside
their transaction. `as_dict()` is the wire shape (snake_case; the renderer camelizes it):
`{points_awarded, xp_awarded, breakdown[{reason, amount}], badges_awarded[], streak{daily,
weekly} | None, level_up?{from, to}, level_down?{from, to}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Effects:
    points_awarded: int = 0
    xp_awarded: int = 0
    breakdown: tuple[dict, ...] = ()
    badges_awarded: tuple[dict, ...] = ()
    # The streak after the change; None when nothing was recorded (a repeated completion).
    streak: dict | None = None
    level_up: dict | None = field(default=None)
    level_down: dict | None = field(default=None)

    @classmethod
    def none(cls) -> Effects:
        """Nothing happened (the task or challenge was already completed, or not completed)."""
        return cls()

    def as_dict(self) -> dict:
        out = {
            "points_awarded": self.points_awarded,
            "xp_awarded": self.xp_awarded,
            "breakdown": list(self.breakdown),
            "badges_awarded": list(self.badges_awarded),
            "streak": self.streak,
        }
        if self.level_up is not None:
            out["level_up"] = self.level_up
        if self.level_down is not None:
            out["level_down"] = self.level_down
        return out
