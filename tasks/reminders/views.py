"""`/api/tasks/{id}/reminders` and `/api/tasks/{id}/reminders/{reminderId}`: parse, authorize (a
foreign task or reminder is a 404), call the reminder services, respond."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api.permissions import IsUser
from kernel.api.scopes import read_write
from kernel.ids import is_valid_id
from tasks.selectors import get_task_for_user

from . import services
from .models import Reminder
from .serializers import ReminderCreateSerializer, ReminderSerializer

MessageSerializer = inline_serializer("ReminderMessage", {"message": serializers.CharField()})


class ReminderListView(APIView):
    required_scopes = read_write("tasks:read", "tasks:write")
    permission_classes = [IsUser]
    created_location = "/api/tasks/{task_id}/reminders/{id}"

    @extend_schema(summary="A task's reminders (at most 10)", responses=ReminderSerializer(many=True), tags=["tasks"])
    def get(self, request, pk: str):
        task = get_task_for_user(request.user, pk)
        return Response(ReminderSerializer(Reminder.objects.filter(task=task), many=True).data)

    @extend_schema(
        summary="Add a reminder to a task", request=ReminderCreateSerializer, responses={201: ReminderSerializer},
        tags=["tasks"],
    )
    def post(self, request, pk: str):
        task = get_task_for_user(request.user, pk)
        serializer = ReminderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reminder = services.create_reminder(
            request.user, task, offset_seconds=data.get("offset_seconds"), local_time=data.get("local_time"),
            at=data.get("at"), channels=data.get("channels"),
        )
        return Response(ReminderSerializer(reminder).data, status=201)


class ReminderDetailView(APIView):
    required_scopes = read_write("tasks:read", "tasks:write")
    permission_classes = [IsUser]

    def _get(self, request, pk: str, reminder_id: str) -> Reminder:
        task = get_task_for_user(request.user, pk)
        reminder = Reminder.objects.filter(task=task, pk=reminder_id).first() if is_valid_id(reminder_id) else None
        if reminder is None:
            raise NotFound("Reminder not found.")
        return reminder

    @extend_schema(summary="One reminder of a task", responses=ReminderSerializer, tags=["tasks"])
    def get(self, request, pk: str, reminder_id: str):
        return Response(ReminderSerializer(self._get(request, pk, reminder_id)).data)

    @extend_schema(summary="Remove a reminder", responses={200: MessageSerializer}, tags=["tasks"])
    def delete(self, request, pk: str, reminder_id: str):
        services.delete_reminder(request.user, self._get(request, pk, reminder_id))
        return Response({"success": True, "message": "Reminder deleted"})
