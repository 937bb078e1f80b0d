"""`/api/tasks` (API.md "Tasks"): parse, authorize, call tasks.services, respond."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from kernel.api.conditional import precondition
from kernel.api.errors import ErrorCode
from kernel.api.pagination import PAGE_PARAMS, paginate_counted
from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write
from kernel.api.times import UserTimeZoneMixin
from kernel.idempotency import idempotent
from kernel.versioning import refresh_version
from tasks import bulk_api, services
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.recurrence.selectors import following_occurrence
from tasks.renderers import TaskListRenderer, WireRows
from tasks.selectors import get_task_for_user, tasks_for_user
from tasks.serializers import (
    WIRE_FIELDS,
    CompleteTaskSerializer,
    TaskDeletedSerializer,
    TaskSerializer,
    TaskWithEffectsSerializer,
    replaced_defaults,
    row_to_dict,
    task_to_dict,
)


def _with_effects(task, effects, next_occurrence=None):
    refresh_version(task)
    data = task_to_dict(task)
    if effects is not None:
        data["effects"] = effects.as_dict()
        if next_occurrence is not None:
            data["effects"]["next_occurrence"] = task_to_dict(next_occurrence)
    return data


@extend_schema_view(
    list=extend_schema(summary="List my tasks (newest first)", responses=TaskSerializer(many=True)),
    create=extend_schema(
        summary="Create a task, or up to 100 from an array (per-item answers, 207)",
        request=bulk_api.CREATE_REQUEST,
        responses={201: TaskSerializer, 207: bulk_api.CREATE_ANSWER},
        examples=bulk_api.CREATE_EXAMPLES,
    ),
    retrieve=extend_schema(summary="One of my tasks", responses=TaskSerializer),
    update=extend_schema(
        summary="Replace a task's fields; `status: completed` completes it",
        request=TaskSerializer,
        responses=TaskWithEffectsSerializer,
    ),
    partial_update=extend_schema(
        summary="Change a task; `status: completed` completes it",
        request=TaskSerializer,
        responses=TaskWithEffectsSerializer,
    ),
    destroy=extend_schema(
        summary="Delete a task and its challenges; `?series=future` also stops a repeating task's series",
        parameters=[OpenApiParameter("series", str, enum=["future"], required=False,
                                     description="`future`: stop the series (finished occurrences stay)")],
        responses={200: TaskDeletedSerializer},
    ),
)
class TaskViewSet(UserTimeZoneMixin, viewsets.GenericViewSet):
    required_scopes = read_write("tasks:read", "tasks:write")

    created_location = "/api/tasks/{id}"  # kernel.api.renderers.set_location
    versioned = True  # PUT/PATCH/DELETE honour If-Match (kernel.api.conditional); documented in the schema
    permission_classes = [IsUser]
    renderer_classes = [TaskListRenderer]
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    queryset = tasks_for_user(None).none()  # for the schema; real scoping in get_queryset

    def get_queryset(self):
        return tasks_for_user(self.request.user)

    def get_object(self):
        return get_task_for_user(self.request.user, self.kwargs["pk"])

    def guarded(self, task):
        """The write runs only if the request's `If-Match`/`version` is still current (412 else)."""
        user = self.request.user
        return precondition(
            self.request,
            Task.objects.filter(pk=task.pk, user=user),
            lambda: task_to_dict(get_task_for_user(user, task.pk)),
        )

    def list(self, request):
        queryset = self.get_queryset()
        if set(request.query_params) - PAGE_PARAMS:  # building the filter form costs; skip it when unused
            queryset = self.filter_queryset(queryset)
        rows = paginate_counted(self, queryset.values(*WIRE_FIELDS))
        return self.get_paginated_response(WireRows(row_to_dict(row, datetimes_as_is=True) for row in rows))

    @idempotent
    def create(self, request):
        if bulk_api.body_is_array(request):
            return bulk_api.create_many(self, request)
        serializer = TaskSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        task = services.create_task(request.user, **serializer.to_service_fields())
        task.refresh_from_db()  # understanding may already have run (inline Celery)
        return Response(task_to_dict(task), status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(task_to_dict(self.get_object()))

    def update(self, request, pk=None, partial=False):
        task = self.get_object()
        serializer = TaskSerializer(task, data=request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_service_fields()
        if not partial:
            # PUT replaces the task's content: a content field left out takes its default, as on
            # create. `status` (moved by its own transitions, with awards) and `metadata` (the
            # link of an imported task to its source) change only when sent.
            fields = {**replaced_defaults(), **fields}
        with self.guarded(task):
            task, effects = services.update_task(request.user, task, fields)
        # A repeating task completed by this change names the occurrence that follows, as /complete does.
        following = following_occurrence(task) if effects is not None and task.status == "completed" else None
        return Response(_with_effects(task, effects, following))

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        series = request.query_params.get("series")
        if series not in (None, "future"):
            raise ValidationError({"series": [ErrorDetail('Only "future" is supported.', code=ErrorCode.INVALID_CHOICE)]})
        task = self.get_object()
        with self.guarded(task):
            services.delete_task(request.user, task, series=series)
        return Response({"success": True, "message": "Task deleted successfully"})

    @extend_schema(
        summary="Complete a task (idempotent: a repeat returns the task with no new award)",
        request=CompleteTaskSerializer,
        responses={200: TaskWithEffectsSerializer, 404: OpenApiResponse(description="Not found or not yours")},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        task = self.get_object()
        serializer = CompleteTaskSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.complete_task(
            request.user,
            task,
            actual_duration=serializer.validated_data.get("actual_duration"),
            notes=serializer.validated_data.get("notes"),
        )
        return Response(_with_effects(result.task, result.effects, result.next_occurrence))

    @extend_schema(
        summary="Undo a completion (the award is reversed)",
        request=None,
        responses={200: TaskWithEffectsSerializer},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        task, effects = services.reopen_task(request.user, self.get_object())
        return Response(_with_effects(task, effects))
