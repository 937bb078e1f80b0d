from django.urls import re_path

from gamification import views

# Mounted at `api/gamification/`; paths as API.md writes them, a trailing slash also accepted.
urlpatterns = [
    re_path(r"^points/?$", views.PointsView.as_view(), name="gamification-points"),
    re_path(r"^badges/?$", views.BadgesView.as_view(), name="gamification-badges"),
    re_path(r"^badges/check/?$", views.BadgeCheckView.as_view(), name="gamification-badges-check"),
    re_path(r"^leaderboard/?$", views.LeaderboardView.as_view(), name="gamification-leaderboard"),
    re_path(r"^rank/?$", views.RankView.as_view(), name="gamification-rank"),
    re_path(r"^profile/?$", views.ProfileView.as_view(), name="gamification-profile"),
    re_path(r"^preferences/?$", views.PreferencesView.as_view(), name="gamification-preferences"),
    re_path(r"^history/?$", views.HistoryView.as_view(), name="gamification-history"),
]
