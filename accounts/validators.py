from __future__ import annotations

import unicodedata
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError

from accounts.errors import AccountReason
from kernel import jsonlimits

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
        raise ValidationError("Names cannot contain control characters or line breaks.", code=AccountReason.CONTROL_CHARACTERS)


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
        raise ValidationError(f"'{value}' is not a valid IANA time zone.", code=AccountReason.INVALID_TIMEZONE)
    ZoneInfo(value)


# Free-form parts (work_hours) are still bounded: preferences ride along in every login and
# profile answer, so a deep or huge value would cost every one of them (or break them: the JSON
# writer stops at 255 levels).
PREFERENCES_MAX_DEPTH = 4
PREFERENCES_MAX_VALUES = 500


def validate_preferences(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Preferences must be an object.")
    try:
        jsonlimits.check(
            value, max_depth=PREFERENCES_MAX_DEPTH, max_nodes=PREFERENCES_MAX_VALUES, path="Preferences"
        )
    except jsonlimits.JSONLimitError as exc:
        raise ValidationError(exc.message, code=exc.code) from None
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


def readable_preferences(value) -> dict:
    """The stored preferences that still pass validation, key by key: a value stored before the
    limits existed (nested hundreds deep, say) is left out of answers instead of breaking
    login and profile for its owner."""
    if not isinstance(value, dict):
        return {}
    kept = {}
    for key, item in value.items():
        try:
            validate_preferences({key: item})
        except ValidationError:
            continue
        kept[key] = item
    return kept


def preferences_json_schema() -> dict:
    """PREFERENCE_SCHEMA as an OpenAPI object schema: the documented limits are the enforced ones."""
    props = {}
    for key, (kind, arg) in PREFERENCE_SCHEMA.items():
        if kind == "bool":
            props[key] = {"type": "boolean"}
        elif kind == "choice":
            props[key] = {"type": "string", "enum": list(arg)}
        elif kind == "str":
            props[key] = {"type": "string", "maxLength": arg}
        elif kind == "int":
            props[key] = {"type": "integer", "minimum": arg[0], "maximum": arg[1]}
        elif kind == "dict":
            props[key] = {"type": "object", "maxProperties": 20, "description": "Free-form, at most 3 levels deep."}
        elif kind == "list":
            props[key] = {"type": "array", "maxItems": arg, "items": {"type": "string", "maxLength": 50}}
    return {"type": "object", "properties": props, "additionalProperties": False}
