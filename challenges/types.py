"""Our own types for what the AI service (or the local fallback) produces.

Nothing from the AI service reaches the database except through these, after validation in
`challenges.ai_client` (values out of range or unknown are mapped or rejected there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CHALLENGE_TYPES = ("quiz", "puzzle", "coding_challenge", "timed_completion", "streak", "multiplayer", "custom")
DIFFICULTIES = ("easy", "medium", "hard", "very_hard", "adaptive")
COMPLEXITIES = ("easy", "medium", "hard", "very_hard")
# What task understanding may say a task is about (a subset of the Task types of API.md).
CLASSIFICATION_TYPES = ("manual", "code", "study", "creative", "meeting", "research", "admin")


@dataclass(frozen=True)
class TaskSpec:
    """The parts of a task generation looks at (no ORM: the fallback stays pure)."""

    title: str
    description: str = ""
    type: str = "manual"
    priority: str = "medium"
    estimated_duration: int | None = None

    @classmethod
    def from_task(cls, task) -> TaskSpec:
        return cls(
            title=task.title,
            description=task.description or "",
            type=task.type,
            priority=task.priority,
            estimated_duration=task.estimated_duration,
        )


@dataclass(frozen=True)
class Classification:
    type: str
    complexity: str
    estimated_duration: int
    keywords: list[str] = field(default_factory=list)
    source: str = "fallback"  # "ai" | "fallback"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GeneratedChallenge:
    type: str
    title: str
    description: str
    difficulty: str
    difficulty_score: int
    points_reward: int
    # snake_case keys: time_limit, attempts, hints, questions[{question, options,
    # correct_answer, points}], milestones[{name, progress, points}], code_template, test_cases
    configuration: dict
    source: str  # "ai" | "fallback"
    model: str = ""
    generation_time: float = 0.0
    request_id: str = ""
    classification: Classification | None = None
    fallback_reason: str = ""
