"""Settings the test command selects (pyproject's DJANGO_SETTINGS_MODULE for pytest, and
scripts/test.sh): the environment-driven base module plus what only tests want. Processes the
tests start (daphne, Celery workers and beat) are given this module too, so they share the
secret (tokens minted by the test process verify there) and the hasher.

Tests that need production behaviour start a process on `deepiri.settings` instead.
"""

import os

# The base refuses to load without SECRET_KEY when DEBUG is off, as tests run; a throwaway key,
# also inherited by the subprocesses above so they sign and verify alike.
os.environ.setdefault("SECRET_KEY", "test-only-insecure-secret-key-0123456789abcdefghij")

from deepiri.settings import *  # noqa: E402, F403
from deepiri.settings import env  # noqa: E402

TESTING = True

# Hashing dominates user-heavy tests; the algorithm is not what they check.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

# The test client and the local servers speak plain HTTP: no HTTPS redirect, no Secure-only cookies.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
REFRESH_COOKIE_SECURE = env.bool("REFRESH_COOKIE_SECURE", default=False)

# No collectstatic before tests: static files come straight from the apps, unhashed.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Failing tests print what they logged; one line per test-client request would drown it.
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=False)
