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
        "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MONGODB_URI", "AI_SERVICE_URL", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.INSTALLED_APPS;" + PROBE],
        cwd=ROOT, env={**base, "DJANGO_SETTINGS_MODULE": "deepiri.settings", **env}, capture_output=True, text=True,
        timeout=60,
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
    # (a SECRET_KEY, so that DEBUG does not make this checkout its key file)
    result = _settings(
        {"DEBUG": "1", "SECRET_KEY": "x" * 50, "DATABASE_URL": "postgres://u:p@db:5432/x", "REDIS_URL": "redis://r:6379/0"}
    )
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["db"].endswith("postgresql")
    assert s["cache"] == "django_redis.cache.RedisCache"
    assert s["layer"].startswith("channels_redis")
    assert s["eager"] is False


def _checkout(root: Path) -> Path:
    """A minimal fresh checkout: the settings module in a package of its own directory."""
    for package, name in (("deepiri", "settings.py"), ("kernel", "config.py"), ("kernel", "version.py")):  # config: the URL checks; version: API_VERSION
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
        (root / package / name).write_text((ROOT / package / name).read_text())
    return root


def _debug_secret(checkout: Path) -> str:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    result = subprocess.run(
        [sys.executable, "-c", "import deepiri.settings as s; print(s.SECRET_KEY)"],
        cwd=checkout, env={**base, "DEBUG": "1", "PYTHONPATH": str(checkout)}, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_debug_without_a_secret_key_makes_one_per_checkout_and_keeps_it(tmp_path):
    one, two = _checkout(tmp_path / "one"), _checkout(tmp_path / "two")
    first = _debug_secret(one)
    assert len(first) >= 50
    assert "insecure" not in first
    assert (one / ".secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only
    assert _debug_secret(one) == first  # a restart keeps sessions and tokens valid
    assert _debug_secret(two) not in ("", first)  # another checkout gets its own


def test_the_checkout_secret_and_local_files_stay_out_of_git_and_the_image():
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert {".env", ".secret_key"} <= set(gitignore)
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".secret_key", ".venv", ".git", "*.sqlite3"} <= set(dockerignore)
