"""Configuration checked when a process starts, not at its first request.

gunicorn (deploy/gunicorn.conf.py, in the master before any worker forks), daphne and any other
WSGI/ASGI server (deepiri/asgi.py, deepiri/wsgi.py), the Celery worker and beat
(deepiri/celery.py) and `make prod` (devtools/topology.py) call `check_or_exit()`. A process whose
configuration cannot work exits with status 78 (EX_CONFIG) and ONE line on stderr naming the
variable and what is wrong, instead of serving 500s, an HTML 400 on every request, or a 503
"try again shortly" that never gets better.

What is refused:
  - a malformed DATABASE_URL, REDIS_URL, CELERY_BROKER_URL or MONGODB_URI (and anything else
    that makes the settings module fail to load, e.g. DEBUG off without SECRET_KEY);
  - a PostgreSQL database or role that does not exist, or a wrong password (a server that does
    not answer yet is not refused: it may come up, and /api/health/ready says 503 meanwhile);
  - with DEBUG off: no ALLOWED_HOSTS; mail that would be printed into the log (the console
    backend writes verification and reset tokens there) unless EMAIL_URL=log:// says so on
    purpose; no FRONTEND_URL while mail is really sent (its links would point at localhost).

The URL validators are plain functions: settings.py uses `database_settings` so that a bad
DATABASE_URL is recorded in CONFIG_ERRORS rather than crashing the import with a traceback.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import psycopg
from django.conf import settings
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

EXIT_CONFIG = 78  # sysexits.h EX_CONFIG
# Set by a parent that has already checked (gunicorn's master), so its workers skip the check.
CHECKED_ENV = "DEEPIRI_CONFIG_CHECKED"
# Mail settings that mean "do not send, log that a mail would have gone" (no body, no link).
LOG_ONLY_EMAIL_BACKEND = "kernel.mail.LogOnlyEmailBackend"
_PRINTING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
_SQLITE_FALLBACK = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


class ConfigError(Exception):
    """One configuration problem, worded as the one line the operator sees."""


def _port(parts) -> None:
    try:
        parts.port  # noqa: B018 (urllib validates the port on access)
    except ValueError as exc:
        raise ConfigError(f"bad port ({exc})") from None


def database_problem(url: str) -> str | None:
    """Why `url` cannot be a DATABASE_URL (PostgreSQL or SQLite, as the project supports), or None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        return "must start with postgres:// (or sqlite:///path for the embedded database)"
    try:
        _port(parts)
        config = environ.Env.db_url_config(url)
    except (ConfigError, ValueError) as exc:
        return str(exc)
    if scheme != "sqlite" and not config.get("NAME"):
        return "names no database (postgres://user:password@host:5432/DBNAME)"
    return None


def database_settings(url: str, errors: list[str]) -> dict:
    """DATABASES['default'] base for `url`; a malformed one is recorded in `errors` and replaced by
    an in-memory SQLite database, so that the settings still load and the startup check can say
    what is wrong in one line."""
    problem = database_problem(url)
    if problem:
        errors.append(f"DATABASE_URL is malformed: {problem}")
        return dict(_SQLITE_FALLBACK)
    return environ.Env.db_url_config(url)


def redis_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        return "must start with redis://, rediss:// or unix://"
    try:
        _port(parts)
    except ConfigError as exc:
        return str(exc)
    if parts.scheme != "unix":
        if not parts.hostname:
            return "names no host (redis://host:6379/0)"
        db = parts.path.strip("/")
        if db and not db.isdigit():
            return f"database {db!r} is not a number (redis://host:6379/0)"
    return None


def broker_problem(url: str) -> str | None:
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss"}:
        return redis_problem(url)
    if scheme in {"memory", "amqp", "amqps", "pyamqp", "sqs"}:
        try:
            _port(urlsplit(url))
        except ConfigError as exc:
            return str(exc)
        return None
    return "must start with redis://, amqp:// or memory://"


def mongodb_problem(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme == "mongodb+srv":  # parse_uri would look the SRV record up: only the shape here
        return None if parts.hostname else "names no host"

    try:
        parse_uri(uri)
    except (PyMongoError, ValueError) as exc:
        return str(exc).split(". Hint")[0]
    return None


def problems(settings) -> list[str]:
    """Every configuration problem of `settings` that no request could get past."""
    found = list(getattr(settings, "CONFIG_ERRORS", []))
    for name, validate in (("REDIS_URL", redis_problem), ("CELERY_BROKER_URL", broker_problem),
                           ("MONGODB_URI", mongodb_problem)):
        value = getattr(settings, name, "")
        if value and (problem := validate(value)):
            found.append(f"{name} is malformed: {problem}")
    if not settings.DEBUG and not getattr(settings, "TESTING", False):
        if not settings.ALLOWED_HOSTS:
            found.append("ALLOWED_HOSTS is empty while DEBUG is off: every request would get a 400 "
                         "(set ALLOWED_HOSTS=api.example.com,...)")
        if settings.EMAIL_BACKEND in _PRINTING_EMAIL_BACKENDS:
            found.append("no mail backend while DEBUG is off: verification and reset links would be "
                         "printed into the log (set EMAIL_URL=smtp://user:password@host:587, "
                         "or EMAIL_URL=log:// to only log that a mail was not sent)")
        elif settings.EMAIL_BACKEND != LOG_ONLY_EMAIL_BACKEND and not getattr(settings, "FRONTEND_URL_SET", True):
            found.append("FRONTEND_URL is unset while DEBUG is off: mailed links would point at "
                         f"{settings.FRONTEND_URL} (set FRONTEND_URL=https://app.example.com)")
    return found


def database_missing(settings) -> str | None:
    """'database "x" does not exist' when the PostgreSQL server answers that; None otherwise,
    including when the server does not answer at all (that may be transient)."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        return None

    params = {k: v for k, v in {
        "dbname": db.get("NAME"), "user": db.get("USER"), "password": db.get("PASSWORD"),
        "host": db.get("HOST"), "port": db.get("PORT"),
    }.items() if v not in (None, "")}
    try:
        psycopg.connect(**params, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        text = " ".join(str(exc).split())
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        if f'database "{db.get("NAME")}" does not exist' in text:
            return (f"DATABASE_URL names database {db.get('NAME')!r}, which does not exist on {where} "
                    f"(create it, then run manage.py migrate)")
        # a missing role or a wrong password will not heal by waiting either
        if "does not exist" in text or "password authentication failed" in text:
            return f"DATABASE_URL is refused by PostgreSQL at {where}: {text.split('FATAL:')[-1].strip()}"
    return None


def _settings():
    settings.INSTALLED_APPS  # noqa: B018 (loads the settings module)
    return settings


def first_problem(process: str, *, database: bool = True) -> str | None:
    try:
        settings = _settings()
    except Exception as exc:  # ImproperlyConfigured, a bad int, ...: the settings did not load
        return f"settings did not load: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    found = problems(settings)
    if not found and database:
        found = [p for p in [database_missing(settings)] if p]
    return found[0] if found else None


def check_or_exit(process: str, *, database: bool = True) -> None:
    """Exit with EX_CONFIG and one line on stderr if this process's configuration cannot work
    (`database=False`: the database may not exist yet, as when make prod is about to create it)."""
    if os.environ.get(CHECKED_ENV) == str(os.getppid()):
        return  # the parent (gunicorn's master) checked this very configuration
    problem = first_problem(process, database=database)
    if problem:
        sys.stderr.write(f"deepiri {process}: refusing to start: {problem}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_CONFIG)  # no teardown to run yet; SystemExit would be caught by some servers


def settings_variables(path: Path | None = None) -> set[str]:
    """The environment variables settings.py reads: the first argument of every `env(...)`,
    `env.<cast>(...)` and `os.environ...` call in it (.env.example must list each; a test keeps it so)."""
    path = path or Path(__file__).resolve().parents[1] / "deepiri" / "settings.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, first = node.func, node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        target = ast.unparse(func)
        if target == "env" or target.startswith("env.") or target in (
            "os.environ.get", "os.getenv", "os.environ.setdefault"
        ):
            names.add(first.value)
    return names
