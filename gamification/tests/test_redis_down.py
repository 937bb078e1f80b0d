"""Redis down: reads answer 503 (the profile without its rank), awards still commit, and the
rebuild puts the boards back once Redis is reachable again."""

import socket

import pytest
import redis

import kernel.redis as deepiri_redis
from gamification import leaderboards, services
from gamification.models import GamificationProfile
from gamification.tests.helpers import give

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=0.2,
                       decode_responses=True)
    monkeypatch.setattr(deepiri_redis, "_client", dead)
    yield
    monkeypatch.undo()


def test_reads_degrade(auth_client, redis_down):
    for url in ("/api/gamification/leaderboard", "/api/gamification/rank"):
        res = auth_client.get(url)
        assert res.status_code == 503, url
        assert res.json()["success"] is False
    res = auth_client.get("/api/gamification/profile")
    assert res.status_code == 200 and res.json()["data"]["rank"] is None


def test_awards_commit_and_rebuild_repairs_the_boards(user, commit, monkeypatch):
    live = deepiri_redis.get_redis()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(deepiri_redis, "_client", redis.Redis(port=port, socket_connect_timeout=0.2, decode_responses=True))
    with commit():
        give(user, 40)
    assert GamificationProfile.objects.get(user=user).points == 40
    monkeypatch.setattr(deepiri_redis, "_client", live)
    assert leaderboards.read_board("all", "full") == {}
    drift = services.rebuild_all()
    assert any("leaderboard all/full" in line for line in drift)
    assert leaderboards.read_board("all", "full") == {user.pk: 40}
