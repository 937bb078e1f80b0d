"""Plain-Django baseline for `GET /api/tasks?limit=50` (bench/tasks_list.py): the same 50 rows
read with .values() and encoded with orjson; no auth, no DRF, no serializer. A task's
`challengeId` is its latest challenge (the challenge points at its task), read with the same
subquery the API uses, so both read the same columns."""

import orjson
from django.http import HttpResponse
from django.urls import path

FIELDS = (
    "id", "title", "description", "type", "status", "priority", "due_date", "due_date_only", "estimated_duration",
    "tags", "source", "source_id", "source_url", "latest_challenge_id", "classification", "completed_at", "actual_duration",
    "efficiency", "completion_notes", "created_at", "updated_at",
)


def plain_tasks(request):
    from django.db.models import OuterRef, Subquery

    from challenges.models import Challenge
    from tasks.models import Task

    latest = Challenge.objects.filter(task=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    rows = list(
        Task.objects.filter(user__email="bench-tasks@example.com")
        .annotate(latest_challenge_id=Subquery(latest))
        .order_by("-created_at", "-id")
        .values(*FIELDS)[:50]
    )
    return HttpResponse(orjson.dumps({"success": True, "data": rows}), content_type="application/json")


urlpatterns = [path("plain-tasks", plain_tasks)]
