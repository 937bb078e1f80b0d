from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.urls import auth_urlpatterns, token_urlpatterns, user_urlpatterns
from integrations.calendar.views import ics_feed
from kernel import client_logs, health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("metrics", metrics.MetricsView.as_view(), name="metrics"),
    path("api/health", health.HealthView.as_view()),
    path("api/health/live", health.LiveView.as_view()),
    path("api/health/ready", health.ReadyView.as_view()),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/auth/", include(auth_urlpatterns)),
    path("api/users/", include(user_urlpatterns)),
    path("api/tokens", include(token_urlpatterns[:1])),
    path("api/tokens/", include(token_urlpatterns[1:])),
    re_path(r"^api/logs/?$", client_logs.ClientLogView.as_view(), name="client-logs"),
    # domain apps
    path("api/tasks", include("tasks.urls")),
    path("api/challenges", include("challenges.urls")),
    path("api/gamification/", include("gamification.urls")),
    path("api/analytics", include("analytics.urls")),
    path("api/integrations", include("integrations.urls")),
    path("api/webhooks", include("integrations.webhooks.urls")),
    path("api/sync", include("integrations.sync.urls")),
    path("api/notifications", include("notifications.urls")),
    path("api/push", include("notifications.push_urls")),
    path("api/calendar", include("integrations.calendar.urls")),
    # A calendar app's subscription: the token in the path is the credential (never logged).
    re_path(r"^cal/(?P<token>[^/]{1,200})\.ics$", ics_feed, name="calendar-ics"),
]

handler500 = "kernel.middleware.server_error"
