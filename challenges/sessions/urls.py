"""Multiplayer session routes, placed in challenges/urls.py before the challenge detail route
(which would otherwise take `sessions` for a challenge id)."""

from django.urls import re_path

from . import views as session_views

urlpatterns = [
    re_path(
        r"^/sessions/(?P<session_id>[^/]+)/complete/?$",
        session_views.SessionCompleteView.as_view(),
        name="challenge-session-complete",
    ),
    re_path(
        r"^/sessions/(?P<session_id>[^/]+)/?$", session_views.SessionDetailView.as_view(), name="challenge-session"
    ),
    re_path(
        r"^/(?P<challenge_id>[^/]+)/sessions/?$", session_views.CreateSessionView.as_view(), name="challenge-sessions"
    ),
]
