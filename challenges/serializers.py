"""The wire shape of a challenge (API.md "Challenges"), snake_case here, camelCase on the wire.

Output is built by hand in `challenge_to_dict` (lists are hot); the declared serializers
document the same shape for the OpenAPI schema and validate input.

Hints: `configuration.hints` lists the hints already taken (all of them once the challenge is
over) and `configuration.hintsTotal` how many exist; `POST .../hint` reveals the next one.
"""

from __future__ import annotations

import math

from rest_framework import serializers

from challenges.models import (
    MAX_COMPLETION_SECONDS,
    Challenge,
    ChallengeStatus,
    ChallengeType,
    Difficulty,
)
from gamification.serializers import EffectsSerializer
from kernel.api.choices import ChoiceField
from kernel.api.fields import DateTimeField
from kernel.api.strict import StrictSerializer
from kernel.api.times import iso_utc

FINISHED = {ChallengeStatus.COMPLETED, ChallengeStatus.EXPIRED, ChallengeStatus.FAILED}


def _configuration(challenge: Challenge) -> dict:
    config = dict(challenge.configuration or {})
    hints = list(config.get("hints") or [])
    config["hints"] = hints if challenge.status in FINISHED else hints[: challenge.hints_used]
    config["hints_total"] = len(hints)
    return config


def challenge_to_dict(challenge: Challenge) -> dict:
    task = challenge.task  # select_related by every caller
    completed = challenge.status == ChallengeStatus.COMPLETED
    return {
        "_id": challenge.pk,
        "id": challenge.pk,
        "task_id": {"_id": task.pk, "id": task.pk, "title": task.title, "description": task.description},
        "type": challenge.type,
        "title": challenge.title,
        "description": challenge.description,
        "difficulty": challenge.difficulty,
        "difficulty_score": challenge.difficulty_score,
        "status": challenge.status,
        "configuration": _configuration(challenge),
        "points_reward": challenge.points_reward,
        "bonus_multiplier": float(challenge.bonus_multiplier),
        "completion_data": {
            "completed_at": iso_utc(challenge.completed_at),
            "completion_time": challenge.completion_time,
            "score": challenge.score,
            "accuracy": challenge.accuracy,
            "attempts_used": challenge.attempts_used,
            "hints_used": challenge.hints_used,
        }
        if completed
        else None,
        "hints_used": challenge.hints_used,
        "ai_generated": challenge.ai_source == "ai",
        "ai_metadata": {
            "source": challenge.ai_source or None,
            "model": challenge.ai_model,
            "generation_time": challenge.ai_generation_time,
            "request_id": challenge.ai_request_id,
            "fallback_reason": challenge.fallback_reason,
        },
        "started_at": iso_utc(challenge.started_at),
        "expires_at": iso_utc(challenge.expires_at),
        "created_at": iso_utc(challenge.created_at),
        "updated_at": iso_utc(challenge.updated_at),
    }


# --- schema-documenting serializers (output) ------------------------------------------------


class ChallengeTaskSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()


class ChallengeQuestionSerializer(serializers.Serializer):
    question = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField())
    correct_answer = serializers.IntegerField()
    points = serializers.IntegerField()


class ChallengeMilestoneSerializer(serializers.Serializer):
    name = serializers.CharField()
    progress = serializers.IntegerField(min_value=0, max_value=100)
    points = serializers.IntegerField()


class ChallengeConfigurationSerializer(serializers.Serializer):
    """What a challenge's type needs: the generator (AI or fallback) sets only the keys that apply."""

    time_limit = serializers.IntegerField(help_text="minutes", required=False)
    attempts = serializers.IntegerField(required=False)
    hints = serializers.ListField(child=serializers.CharField(), help_text="the hints taken so far")
    hints_total = serializers.IntegerField()
    questions = ChallengeQuestionSerializer(many=True, required=False)
    milestones = ChallengeMilestoneSerializer(many=True, required=False)
    code_template = serializers.CharField(required=False)
    test_cases = serializers.ListField(child=serializers.CharField(), required=False)


class ChallengeCompletionDataSerializer(serializers.Serializer):
    completed_at = DateTimeField()
    completion_time = serializers.IntegerField(allow_null=True, help_text="seconds")
    score = serializers.IntegerField()
    accuracy = serializers.IntegerField()
    attempts_used = serializers.IntegerField()
    hints_used = serializers.IntegerField()


class ChallengeAIMetadataSerializer(serializers.Serializer):
    source = ChoiceField(choices=["ai", "fallback"], allow_null=True)
    model = serializers.CharField()
    generation_time = serializers.FloatField(allow_null=True, help_text="seconds")
    request_id = serializers.CharField()
    fallback_reason = serializers.CharField()


class ChallengeSerializer(serializers.Serializer):
    _id = serializers.CharField()
    id = serializers.CharField()
    task_id = ChallengeTaskSerializer()
    type = ChoiceField(choices=ChallengeType.choices)
    title = serializers.CharField()
    description = serializers.CharField()
    difficulty = ChoiceField(choices=Difficulty.choices)
    difficulty_score = serializers.IntegerField(min_value=1, max_value=10)
    status = ChoiceField(choices=ChallengeStatus.choices)
    configuration = ChallengeConfigurationSerializer()
    points_reward = serializers.IntegerField()
    bonus_multiplier = serializers.FloatField()
    completion_data = ChallengeCompletionDataSerializer(allow_null=True)
    hints_used = serializers.IntegerField()
    ai_generated = serializers.BooleanField()
    ai_metadata = ChallengeAIMetadataSerializer()
    started_at = DateTimeField(allow_null=True)
    expires_at = DateTimeField(allow_null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()


class ChallengeWithEffectsSerializer(ChallengeSerializer):
    effects = EffectsSerializer()


class ChallengeHintSerializer(serializers.Serializer):
    challenge_id = serializers.CharField()
    hint = serializers.CharField()
    hints_used = serializers.IntegerField()
    hints_remaining = serializers.IntegerField()


# --- input --------------------------------------------------------------------------------


class GenerateChallengeSerializer(StrictSerializer):
    task_id = serializers.CharField(max_length=64)
    type = ChoiceField(choices=ChallengeType.choices, required=False, allow_null=True)
    difficulty = ChoiceField(choices=Difficulty.choices, required=False, allow_null=True)
    new = serializers.BooleanField(
        required=False, default=False,
        help_text="Ask for another challenge even though the task already has a live one "
        "(generating, pending or active); without it that one is returned.",
    )


class _Percent(serializers.FloatField):
    """0-100, decimals accepted and rounded."""

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=100, required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        if value < 0:
            self.fail("min_value", min_value=0)
        if value > 100:  # checked before rounding: 100.5 is out of range, not 100
            self.fail("max_value", max_value=100)
        return round(value)


class CompleteChallengeSerializer(StrictSerializer):
    completion_time = serializers.IntegerField(
        min_value=0, max_value=MAX_COMPLETION_SECONDS, required=False, allow_null=True, help_text="seconds"
    )
    score = _Percent()
    accuracy = _Percent()
    attempts_used = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True)
    hints_used = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
