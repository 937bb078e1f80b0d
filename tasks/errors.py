"""The error codes only tasks raises (shared ones: kernel.api.errors.ErrorCode)."""

from __future__ import annotations

from enum import StrEnum


class TaskError(StrEnum):
    # envelope codes of POST /api/tasks with an array body
    TOO_MANY_ITEMS = "too_many_items"
    INVALID_BODY = "invalid_body"
    # field codes of a recurrence
    INVALID_RULE = "invalid_rule"
    RULE_NEVER_OCCURS = "rule_never_occurs"
    RECURRENCE_NEEDS_DUE_DATE = "recurrence_needs_due_date"
