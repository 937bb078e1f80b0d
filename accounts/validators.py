from __future__ import annotations

import unicodedata
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

_ZONES = None

# Preference keys we understand and how each is validated. Unknown keys are refused, so a
# typo never silently does nothing.
DIFFICULTIES = ("easy", "medium", "hard", "adaptive")
PREFERENCE_SCHEMA = {
    "theme": ("choice", ("light", "dark", "system")),
    "language": ("str", 16),
    "email_notifications": ("bool", None),
    "push_notifications": ("bool", None),
    "challenge_difficulty": ("choice", DIFFICULTIES),
    "daily_goal": ("int", (1, 100)),
    "work_hours": ("dict", None),
    "focus_mode": ("bool", None),
    "interests": ("list", 50),
    "skill_level": ("choice", ("beginner", "intermediate", "advanced")),
    "preferred_duration": ("int", (5, 480)),
    "show_leaderboard": ("bool", None),
}


def validate_name(value: str) -> None:
    """Names go into email headers and subjects (invites) and single-line UIs: no control
    characters (CR, LF, NUL, tabs, ...) and no line or paragraph separators."""
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value or ""):
        raise ValidationError("Names cannot contain control characters or line breaks.", code="control_characters")


def strip_control_characters(value: str) -> str:
    """For names that come from a provider (social login, Firebase) rather than a form."""
    return " ".join(
        "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value or "").split()
    )


def validate_timezone(value: str) -> None:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    if not isinstance(value, str) or value not in _ZONES:
        raise ValidationError(f"'{value}' is not a valid IANA time zone.", code="invalid_timezone")
    ZoneInfo(value)


def validate_preferences(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Preferences must be an object.")
    errors = []
    for key, item in value.items():
        rule = PREFERENCE_SCHEMA.get(key)
        if rule is None:
            errors.append(f"Unknown preference '{key}'.")
            continue
        kind, arg = rule
        ok = True
        if kind == "bool":
            ok = isinstance(item, bool)
        elif kind == "choice":
            ok = item in arg
        elif kind == "str":
            ok = isinstance(item, str) and len(item) <= arg
        elif kind == "int":
            ok = isinstance(item, int) and not isinstance(item, bool) and arg[0] <= item <= arg[1]
        elif kind == "dict":
            ok = isinstance(item, dict) and len(item) <= 20
        elif kind == "list":
            ok = isinstance(item, list) and len(item) <= arg and all(isinstance(i, str) and len(i) <= 50 for i in item)
        if not ok:
            errors.append(f"Invalid value for preference '{key}'.")
    if errors:
        raise ValidationError(errors)
