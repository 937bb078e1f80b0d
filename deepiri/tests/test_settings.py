"""Production settings are safe by default: with DEBUG off a secret key is required, cookies are
secure, HSTS is on, and the embedded defaults apply only to what is left unset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "hsts": settings.SECURE_HSTS_SECONDS, "secure_session": settings.SESSION_COOKIE_SECURE,
    "secure_csrf": settings.CSRF_COOKIE_SECURE, "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "hosts": settings.ALLOWED_HOSTS, "db": settings.DATABASES["default"]["ENGINE"],
    "cache": settings.CACHES["default"]["BACKEND"], "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER, "refresh_cookie_secure": settings.REFRESH_COOKIE_SECURE,
}))
"""


def _settings(env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {
        "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MONGODB_URI", "AI_SERVICE_URL", "DEEPIRI_TESTING", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','deepiri.settings');"
         "from django.conf import settings; settings.INSTALLED_APPS;" + PROBE],
        cwd=ROOT, env={**base, "DEEPIRI_TESTING": "0", **env}, capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_settings_are_secure_and_embedded_defaults_apply():
    result = _settings({"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "api.deepiri.example"})
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["hsts"] >= 31536000 and s["secure_session"] and s["secure_csrf"] and s["ssl_redirect"]
    assert s["refresh_cookie_secure"] is True
    assert s["hosts"] == ["api.deepiri.example"]
    assert s["db"].endswith("sqlite3")
    assert s["cache"].endswith("LocMemCache") and s["layer"].endswith("InMemoryChannelLayer") and s["eager"] is True


def test_real_services_are_chosen_by_one_variable_each():
    result = _settings({"DEBUG": "1", "DATABASE_URL": "postgres://u:p@db:5432/x", "REDIS_URL": "redis://r:6379/0"})
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["db"].endswith("postgresql")
    assert s["cache"] == "django_redis.cache.RedisCache"
    assert s["layer"].startswith("channels_redis")
    assert s["eager"] is False
