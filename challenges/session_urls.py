"""Multiplayer session routes (issue 5), prepended to challenges/urls.py's urlpatterns."""

from django.urls import re_path

from . import session_views

urlpatterns = [
    re_path(
        r"^/sessions/(?P<session_id>[^/]+)/?$", session_views.SessionDetailView.as_view(), name="challenge-session"
    ),
    re_path(
        r"^/(?P<challenge_id>[^/]+)/sessions/?$", session_views.CreateSessionView.as_view(), name="challenge-sessions"
    ),
]
