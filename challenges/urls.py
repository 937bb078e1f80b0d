"""Mounted at `api/challenges` (no trailing slash): paths below start with `/`; each also
accepts a trailing slash."""

from django.urls import re_path

from challenges.views import ChallengeViewSet

_ID = r"(?P<pk>[^/]+)"

urlpatterns = [
    re_path(r"^/?$", ChallengeViewSet.as_view({"get": "list"}), name="challenges-list"),
    re_path(r"^/generate/?$", ChallengeViewSet.as_view({"post": "generate"}), name="challenges-generate"),
    re_path(rf"^/{_ID}/start/?$", ChallengeViewSet.as_view({"post": "start"}), name="challenges-start"),
    re_path(rf"^/{_ID}/hint/?$", ChallengeViewSet.as_view({"post": "hint"}), name="challenges-hint"),
    re_path(rf"^/{_ID}/complete/?$", ChallengeViewSet.as_view({"post": "complete"}), name="challenges-complete"),
]

# multiplayer sessions go above the detail route, which would take `sessions` for an id
from challenges.sessions.urls import urlpatterns as session_urlpatterns  # noqa: E402

urlpatterns += session_urlpatterns
urlpatterns += [
    re_path(rf"^/{_ID}/?$", ChallengeViewSet.as_view({"get": "retrieve"}), name="challenges-detail"),
]
