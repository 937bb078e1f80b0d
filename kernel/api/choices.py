"""Choice errors that say which values are allowed, for bodies and for query filters alike.

DRF answers `"done" is not a valid choice.` and Django forms `Select a valid choice. done is not
one of the available choices.`; a client cannot fix its request from either without the docs.
"""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from kernel.api.errors import ErrorCode


def _allowed(choices) -> str:
    return ", ".join(str(key) for key in choices if key not in ("", None))


class ChoiceField(serializers.ChoiceField):
    def fail(self, key, **kwargs):
        if key == "invalid_choice":
            raise serializers.ValidationError(
                f'"{kwargs.get("input")}" is not a valid choice. Valid choices: {_allowed(self.choices)}.',
                code=ErrorCode.INVALID_CHOICE,
            )
        super().fail(key, **kwargs)


class FilterSet(django_filters.FilterSet):
    """A FilterSet whose invalid-choice errors (filters, `ordering`) list the allowed values."""

    def is_valid(self):
        valid = super().is_valid()
        if not valid:
            for name, errors in self.form.errors.as_data().items():
                field = self.form.fields.get(name)
                choices = getattr(field, "choices", None)
                if choices is None:
                    continue
                allowed = _allowed(key for key, _label in choices).replace("%", "%%")
                for error in errors:
                    if error.code == "invalid_choice":
                        error.message = f"%(value)s is not a valid choice. Valid choices: {allowed}."
        return valid
