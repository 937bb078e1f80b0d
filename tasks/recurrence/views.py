"""`POST /api/tasks/recurrence/preview` and `POST /api/tasks/{id}/skip`."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.permissions import IsUser
from kernel.api.times import UserTimeZoneMixin, iso_utc
from tasks.recurrence import rules, services
from tasks.recurrence.serializers import PreviewAnswerSerializer, PreviewSerializer
from tasks.recurrence.text import describe
from tasks.selectors import get_task_for_user
from tasks.serializers import DueDateField, TaskSerializer, task_to_dict

PREVIEW_COUNT = 10


class PreviewInput(PreviewSerializer):
    due_date = DueDateField(required=False, allow_null=True,
                            help_text="The first occurrence (date or date-time); now when left out.")


class PreviewView(UserTimeZoneMixin, APIView):
    """What a rule would do, for an editor: nothing is written."""

    permission_classes = [IsUser]
    required_scopes = {"POST": "tasks:read"}  # a read: nothing is stored

    @extend_schema(
        summary="Preview a recurrence rule: its sentence and first 10 due times (nothing is stored)",
        request=PreviewInput,
        responses={200: PreviewAnswerSerializer, 400: OpenApiResponse(description="`invalid_rule` or `rule_never_occurs`")},
        examples=[
            OpenApiExample("Mondays, Wednesdays and Fridays at 9",
                           value={"rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "anchor": "due", "dueDate": "2026-12-07T09:00:00"},
                           request_only=True),
        ],
    )
    def post(self, request):
        serializer = PreviewInput(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tz_name = request.user.timezone or "UTC"
        tz = rules.zone(tz_name)
        due, date_only = data.get("due_date") or (timezone.now(), False)
        start = rules.local_of(due, tz)
        try:
            rule = rules.check(data["rule"], start, tz_name)
            local = rules.first_instances(rule, data["anchor"], start, tz_name, PREVIEW_COUNT)
        except rules.RuleError as exc:
            raise serializers.ValidationError({"rule": [serializers.ErrorDetail(str(exc), code=exc.code)]}) from None
        return Response({
            "rule": rule,
            "anchor": data["anchor"],
            "timezone": tz_name,
            "date_only": date_only,
            "text": describe(rule, data["anchor"]),
            "occurrences": [iso_utc(rules.place(value, tz)) for value in local],
        })


class SkipView(UserTimeZoneMixin, APIView):
    permission_classes = [IsUser]
    required_scopes = {"POST": "tasks:write"}

    @extend_schema(
        summary="Skip an open occurrence of a repeating task: the series moves on, without points",
        request=None,
        responses={200: TaskSerializer, 404: OpenApiResponse(description="Not found or not yours"),
                   409: OpenApiResponse(description="Not repeating, not open, or the series has stopped")},
    )
    def post(self, request, pk=None):
        task, following = services.skip(request.user, get_task_for_user(request.user, pk))
        data = task_to_dict(task)
        data["next_occurrence"] = task_to_dict(following) if following is not None else None
        return Response(data)
