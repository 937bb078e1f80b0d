"""The event types a webhook endpoint can subscribe to, each with the JSON schema of its `data`
(the resource in its REST shape), served at GET /api/webhooks/event-types and in the OpenAPI
document."""

from __future__ import annotations

_NULLABLE_STRING = {"type": ["string", "null"]}
_DATETIME = {"type": "string", "format": "date-time"}

TASK_SCHEMA = {
    "type": "object",
    "description": "A task, as GET /api/tasks/{id} answers it.",
    "required": ["id", "title", "status", "createdAt", "updatedAt"],
    "properties": {
        "_id": {"type": "string"},
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "in_progress", "completed", "cancelled"]},
        "priority": {"type": "string"},
        "dueDate": {"type": ["string", "null"], "format": "date-time"},
        "dueDateOnly": {"type": "boolean"},
        "estimatedDuration": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object"},
        "challengeId": _NULLABLE_STRING,
        "classification": {"type": ["object", "null"]},
        "completionData": {"type": ["object", "null"]},
        "createdAt": _DATETIME,
        "updatedAt": _DATETIME,
    },
}

CHALLENGE_SCHEMA = {
    "type": "object",
    "description": "A challenge, as GET /api/challenges/{id} answers it.",
    "required": ["id", "type", "title", "status"],
    "properties": {
        "_id": {"type": "string"},
        "id": {"type": "string"},
        "taskId": {"type": "object"},
        "type": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "difficulty": {"type": "string"},
        "status": {"type": "string"},
        "pointsReward": {"type": "integer"},
        "completionData": {"type": ["object", "null"]},
        "createdAt": _DATETIME,
        "updatedAt": _DATETIME,
    },
}

BADGE_SCHEMA = {
    "type": "object",
    "description": "A badge the user earned, as in GET /api/gamification/badges.",
    "required": ["id", "slug", "name", "earnedAt"],
    "properties": {
        "_id": {"type": "string"},
        "id": {"type": "string"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "icon": {"type": "string"},
        "description": {"type": "string"},
        "category": {"type": "string"},
        "rarity": {"type": "string"},
        "points": {"type": "integer"},
        "earnedAt": _DATETIME,
    },
}

LEVEL_SCHEMA = {
    "type": "object",
    "required": ["fromLevel", "toLevel"],
    "properties": {"fromLevel": {"type": "integer"}, "toLevel": {"type": "integer"}},
}

_STREAK = {"type": "object", "properties": {"current": {"type": "integer"}, "longest": {"type": "integer"}}}
STREAK_SCHEMA = {
    "type": "object",
    "required": ["daily", "weekly"],
    "properties": {
        "daily": {**_STREAK, "properties": {**_STREAK["properties"], "lastDate": {"type": ["string", "null"]},
                                            "freezes": {"type": "integer"}}},
        "weekly": _STREAK,
        "previous": {"type": "object"},
    },
}

EVENT_TYPES: dict[str, tuple[str, dict]] = {
    "task.created": ("A task was created.", TASK_SCHEMA),
    "task.updated": ("A task was changed (a reopened task included).", TASK_SCHEMA),
    "task.completed": ("A task was completed (only this event, not also task.updated).", TASK_SCHEMA),
    "task.deleted": ("A task was deleted: its last state.", TASK_SCHEMA),
    "challenge.generated": ("A challenge was generated and is ready.", CHALLENGE_SCHEMA),
    "challenge.completed": ("A challenge was completed.", CHALLENGE_SCHEMA),
    "badge.awarded": ("A badge was earned.", BADGE_SCHEMA),
    "level.up": ("The level went up.", LEVEL_SCHEMA),
    "streak.updated": ("A streak moved (extended, frozen or broken).", STREAK_SCHEMA),
}
TEST_EVENT = "webhook.test"  # what POST .../test sends; not subscribable


def catalogue() -> list[dict]:
    return [
        {"type": name, "description": description, "schema": schema}
        for name, (description, schema) in EVENT_TYPES.items()
    ]
