"""Input of `recurrence` (on a task, and the preview) and the preview's answer."""

from __future__ import annotations

from rest_framework import serializers

from kernel.api.choices import ChoiceField
from kernel.api.errors import ValidatorCode
from kernel.api.strict import StrictSerializer
from tasks.recurrence import rules
from tasks.recurrence.models import Anchor

RULE_HELP = (
    "An RFC 5545 RRULE body without DTSTART (at most 500 characters): FREQ DAILY/WEEKLY/MONTHLY/YEARLY, "
    "INTERVAL, BYDAY (e.g. MO,WE,FR or -1FR), BYMONTHDAY (e.g. 1,-1), BYMONTH, BYSETPOS, COUNT, UNTIL, WKST."
)


def _rule(value: str) -> str:
    try:
        return rules.normalize(value)
    except rules.RuleError as exc:
        raise serializers.ValidationError(str(exc), code=exc.code) from None


class RecurrenceSerializer(StrictSerializer):
    rule = serializers.CharField(max_length=rules.MAX_RULE_LENGTH, help_text=RULE_HELP)
    anchor = ChoiceField(choices=Anchor.choices, required=False, default=Anchor.DUE,
                         help_text="`due`: from the schedule; `completion`: counted from each completion.")

    # What a read shows, accepted and ignored on input so a client may send back what it read.
    timezone = serializers.CharField(read_only=True, help_text="The user's IANA zone when the rule was set.")
    text = serializers.CharField(read_only=True, allow_null=True, help_text="The rule as a sentence.")
    next = serializers.ListField(child=serializers.DateTimeField(), read_only=True,
                                 help_text="The next 5 due times (UTC).")

    def validate_rule(self, value):
        return _rule(value)

    def validate(self, attrs):
        # A PATCH validates nested objects partially: a rule is still required in one.
        if "rule" not in attrs:
            raise serializers.ValidationError(
                {"rule": [serializers.ErrorDetail("This field is required.", code=ValidatorCode.REQUIRED)]}
            )
        attrs.setdefault("anchor", Anchor.DUE)
        return attrs


class SeriesStreakSerializer(serializers.Serializer):
    current = serializers.IntegerField()
    longest = serializers.IntegerField()


class PreviewSerializer(StrictSerializer):
    rule = serializers.CharField(max_length=rules.MAX_RULE_LENGTH, help_text=RULE_HELP)
    anchor = ChoiceField(choices=Anchor.choices, required=False, default=Anchor.DUE)
    def validate_rule(self, value):
        return _rule(value)


class PreviewAnswerSerializer(serializers.Serializer):
    rule = serializers.CharField()
    anchor = serializers.CharField()
    timezone = serializers.CharField()
    date_only = serializers.BooleanField()
    text = serializers.CharField()
    occurrences = serializers.ListField(child=serializers.DateTimeField(),
                                        help_text="The first 10 due times, the first being dueDate (UTC).")
