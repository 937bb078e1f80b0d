"""Plain Django JSON views: the baseline that API endpoints are measured against."""

import orjson
from django.http import HttpResponse
from django.urls import path


def plain_json(request):
    return HttpResponse(orjson.dumps({"success": True, "data": {"status": "ok"}}), content_type="application/json")


def plain_profile(request):
    """The same row `GET /api/users/profile` returns, read with .values() and no auth/serializer."""
    from accounts.models import User

    row = User.objects.filter(email="bench@example.com").values(
        "id", "name", "email", "profile_picture", "bio", "timezone", "preferences", "created_at"
    ).first()
    row["_id"] = row["id"]
    return HttpResponse(orjson.dumps({"success": True, "data": row}), content_type="application/json")


urlpatterns = [path("plain", plain_json), path("plain-profile", plain_profile)]
