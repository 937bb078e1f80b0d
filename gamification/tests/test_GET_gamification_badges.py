"""GET /api/gamification/badges"""

from datetime import UTC, datetime

import pytest

from gamification import services
from gamification.models import Badge
from gamification.tests.helpers import count_queries

pytestmark = pytest.mark.django_db


def test_catalogue_with_earned_and_progress(user, auth_client, task_stub):
    services.record_task_completion(user, task_stub(priority="urgent"), completed_at=datetime.now(UTC))
    res = auth_client.get("/api/gamification/badges")
    assert res.status_code == 200
    data = {b["slug"]: b for b in res.json()["data"]}
    assert len(data) == Badge.objects.filter(active=True).count() >= 20
    first = data["first-steps"]
    assert first["earned"] is True and first["earnedAt"] and first["progress"] == {"current": 1, "target": 1}
    assert data["getting-things-done"]["progress"] == {"current": 1, "target": 10}
    assert data["firefighter"]["progress"] == {"current": 1, "target": 5}
    assert data["firefighter"]["earned"] is False and data["firefighter"]["earnedAt"] is None
    assert set(first) >= {"_id", "id", "slug", "name", "icon", "description", "category", "rarity", "earned", "earnedAt", "progress"}


def test_constant_queries_whatever_the_catalogue_size(user, auth_client):
    auth_client.get("/api/gamification/badges")
    with count_queries() as small:
        auth_client.get("/api/gamification/badges")
    for i in range(15):
        Badge.objects.create(slug=f"extra-{i}", name=f"Extra {i}", icon="x", description="x", category="special",
                             criteria={"type": "event_count", "event": "task.completed", "value": i + 1,
                                       "filters": {"priority": "low"}})
    with count_queries() as large:
        auth_client.get("/api/gamification/badges")
    assert len(small) == len(large)
