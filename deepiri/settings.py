"""Deepiri settings: one module, everything read from the environment (django-environ).

Every backing service is chosen by one variable. When it is unset the embedded default of
DESIGN.md §1 is used, so a fresh clone runs with no server at all:

    DATABASE_URL  unset -> SQLite file          REDIS_URL      unset -> in-process equivalents
    MONGODB_URI   unset -> mongomock (memory)   AI_SERVICE_URL unset -> local rule-based generator

`.env.example` documents every variable. Tests select `deepiri.settings_test`, which imports this
module and overrides only what tests need (fast hashing, a throwaway secret, plain-HTTP cookies).
"""

import importlib.util
import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as default_cors_headers

from kernel import config as _config
from kernel import version as _api_version

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _read_dotenv(path: Path) -> None:
    """Load `.env` (e.g. a copy of .env.example) without overriding the real environment.
    `KEY=` with no value means unset (the embedded default applies); ` # ...` ends a value."""
    if not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.split(" #", 1)[0].strip().strip("'\"")
        if value:
            os.environ.setdefault(key.strip(), value)


_read_dotenv(BASE_DIR / ".env")


def _checkout_secret_key(path: Path) -> str:
    """DEBUG without SECRET_KEY: a random key made on first run and kept in an ignored file of this
    checkout, so development sessions survive restarts and no two checkouts share a public key."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(tmp, path)  # atomic: when two processes start at once, the first key wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# On only in deepiri.settings_test: lets code that insists on production configuration (e.g. token
# encryption keys) fall back to a derived one, as it does in DEBUG.
TESTING = False
# The wire contract's version, one number everywhere (kernel.version): the `API-Version` header,
# /api/health, the schema's info.version.
API_VERSION = VERSION = _api_version.API_VERSION

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="") or _checkout_secret_key(BASE_DIR / ".secret_key")
else:
    # Production refuses to start without a real secret.
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    # Deepiri's admin site (dashboard, role upkeep) in place of the stock one.
    "kernel.admin_apps.DeepiriAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    # third party
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    # ours
    "kernel",  # the shared kernel (app label "deepiri": outbox, idempotency keys, roles)
    "accounts",
    "tasks",
    "challenges",
    "gamification",
    "analytics",
    "integrations",
    "notifications",
    "realtime",
]

# ------------------------------------------------------------------------------
# Migrations: `migrate` (kernel/management/commands/migrate.py) waits at most this long for a
# table lock and lets one statement run at most this long, so a deploy never queues behind live
# traffic (every query on the table would queue behind the waiting DDL). PostgreSQL durations;
# "0" turns one off. A long backfill or concurrent index sets its own in the migration.
# ------------------------------------------------------------------------------
MIGRATE_LOCK_TIMEOUT = env("MIGRATE_LOCK_TIMEOUT", default="5s")
MIGRATE_STATEMENT_TIMEOUT = env("MIGRATE_STATEMENT_TIMEOUT", default="5min")
# Attempts after a lock timeout (each waits a little longer) before migrate gives up.
MIGRATE_LOCK_RETRIES = env.int("MIGRATE_LOCK_RETRIES", default=3)
# Dev tools (requirements-dev.txt, absent from the image): one leaf migration per app
# (max_migration.txt, checked by `manage.py check`, kept by `makemigrations`).
if importlib.util.find_spec("django_linear_migrations") is not None:
    INSTALLED_APPS.append("django_linear_migrations")

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "kernel.middleware.RequestIdMiddleware",
    "kernel.api.middleware.ApiContractMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /static/ from the web process itself (compressed, hashed names cached for a year), so the
    # admin and the API docs work behind any gateway or none.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "kernel.api.middleware.ApiVersionMiddleware",
    # ETag on API reads, 304 on If-None-Match (inside CORS, so a 304 carries its headers too).
    "kernel.api.conditional.ConditionalRequestMiddleware",
    # A query parameter the view does not accept is a 400 naming it, before the view runs.
    "kernel.api.query_params.QueryParametersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "kernel.middleware.ApiErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns its lockout into the 429 page.
    "axes.middleware.AxesMiddleware",
]

# App URLconfs are mounted without a trailing slash ("api/tasks" + "/<id>"), as API.md writes paths.
SILENCED_SYSTEM_CHECKS = ["urls.W002"]
ROOT_URLCONF = env("ROOT_URLCONF", default="deepiri.urls")  # bench/ serves extra baseline views
WSGI_APPLICATION = "deepiri.wsgi.application"
ASGI_APPLICATION = "deepiri.asgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database: PostgreSQL in production and CI, SQLite file when DATABASE_URL is unset.
# ------------------------------------------------------------------------------
# A malformed URL is recorded here instead of failing the import with a traceback: the startup
# check (kernel/config.py) then refuses to start with one line naming it.
CONFIG_ERRORS: list[str] = []
_database = _config.database_settings(env("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), CONFIG_ERRORS)
DATABASES = {
    "default": {
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        **_database,
        "ATOMIC_REQUESTS": False,
        "CONN_HEALTH_CHECKS": True,
        # Each checkout/CI run may pick its own test database so parallel runs never collide.
        "TEST": {"NAME": env("TEST_DATABASE_NAME", default=None)},
        # Parallel requests from one browser write at once: WAL lets readers go on beside the writer,
        # IMMEDIATE takes the write lock at BEGIN (a deferred transaction that upgrades later fails
        # with "database is locked" without waiting), and the busy timeout queues writers instead.
        **(
            {
                "OPTIONS": {
                    "timeout": 20,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
                    **_database.get("OPTIONS", {}),
                }
            }
            if _database["ENGINE"].endswith("sqlite3")
            else {}
        ),
    }
}
USING_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out client or account before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# collectstatic writes hashed names, a manifest and .gz copies; WhiteNoise serves them with
# `Cache-Control: max-age=315360000, immutable`. In DEBUG the unhashed files come from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "kernel.staticfiles.CompressedManifestStorage"},
}
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))

# Request bodies: the API refuses anything larger with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=1024 * 1024)

# ------------------------------------------------------------------------------
# Redis: cache, locks, leaderboards, channel layer, Celery broker.
# Unset -> in-process equivalents (LocMem cache, fakeredis, InMemoryChannelLayer, Celery eager).
# ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", default="deepiri")
# A hung Redis costs what a dead one does (kernel/redis.py): each operation times out after
# REDIS_SOCKET_TIMEOUT, a timeout makes this process skip Redis for REDIS_BREAKER_SECONDS (then
# one probe), and a request spends at most REDIS_REQUEST_BUDGET seconds on Redis in all.
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=1.0)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=1.0)
REDIS_BREAKER_SECONDS = env.float("REDIS_BREAKER_SECONDS", default=5.0)
REDIS_REQUEST_BUDGET = env.float("REDIS_REQUEST_BUDGET", default=1.5)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_KEY_PREFIX}:cache",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT,
                "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
                "CONNECTION_POOL_CLASS": "kernel.redis.GuardedConnectionPool",
            },
        }
    }
    # notifications (real-time): the production layer is channels_redis pub/sub, chosen by measurement
    # (bench/ws_broadcast.py: one broadcast to 1,000 sockets reaches them sooner than with the core
    # layer, which pops one message per socket from Redis). CHANNEL_LAYER_BACKEND still overrides.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": env("CHANNEL_LAYER_BACKEND", default="channels_redis.pubsub.RedisPubSubChannelLayer"),
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi", "capacity": 1500},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# ------------------------------------------------------------------------------
# MongoDB (mongoengine): the events stream and analytics rollups.
# ------------------------------------------------------------------------------
MONGODB_URI = env("MONGODB_URI", default="")
MONGODB_DB = env("MONGODB_DB", default="deepiri")
# analytics: pool size and connect/server-selection timeout (options written in MONGODB_URI win).
MONGODB_MAX_POOL_SIZE = env.int("MONGODB_MAX_POOL_SIZE", default=50)
MONGODB_TIMEOUT_MS = env.int("MONGODB_TIMEOUT_MS", default=1000)
# Within a request, all MongoDB work (server selection, retries, every query) shares this many
# seconds (pymongo.timeout): a dead or hung MongoDB answers 503 as fast as a dead Redis does.
# Jobs and commands keep the per-query socket timeout (analytics/mongo.py).
MONGODB_REQUEST_BUDGET = env.float("MONGODB_REQUEST_BUDGET", default=1.5)
# analytics self-healing (analytics/freshness.py): rows younger than the grace may still be on
# their way to MongoDB, so only older ones count when checking whether the store is behind; a
# user's rebuild is claimed for at most CLAIM seconds; clients retry after RETRY_AFTER seconds.
ANALYTICS_FRESHNESS_GRACE_SECONDS = env.int("ANALYTICS_FRESHNESS_GRACE_SECONDS", default=120)
ANALYTICS_REBUILD_CLAIM_SECONDS = env.int("ANALYTICS_REBUILD_CLAIM_SECONDS", default=300)
ANALYTICS_REBUILD_RETRY_AFTER = env.int("ANALYTICS_REBUILD_RETRY_AFTER", default=5)

# ------------------------------------------------------------------------------
# Celery (JSON only, time limits, DatabaseScheduler so staff edit schedules in the admin)
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
# No result backend: nothing reads task results (a view answers with the job id only), and a
# backend on Redis made every `.delay()` retry it when Redis was down, stalling the request.
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this
# is set (celery#9824 took out its CONN_MAX_AGE support): each job then opened a PostgreSQL
# session, 18 a second under the load bench. With it, the fixup closes the connection only every
# CELERY_DB_REUSE_MAX tasks, and deepiri/celery.py applies CONN_MAX_AGE and the health check
# around each task, as a request does.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Broker resilience. kombu's Redis transport with a fix for losing Redis while an acks_late job
# runs (kernel/broker.py). A delivered job that is never acknowledged (its worker died) goes
# back on the queue after `visibility_timeout`: a few minutes above the longest hard time limit
# (150 s), so a dead worker's generation is redone within minutes, never while still running.
# Publishing waits at most ~1 s for a dead broker (connect timeout, two quick retries); callers
# then fall back (kernel.jobs: the outbox).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=420)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # how often a worker looks for jobs past the visibility timeout: every ~10 s, sooner when
    # the timeout is short
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 1,
    # A publish to a hung broker gives up within ~2 s (its job goes to the outbox); the
    # consumer's BRPOP waits 1 s, so this stays above it.
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
    "health_check_interval": 10,
}
if CELERY_BROKER_URL.startswith("redis://") or CELERY_BROKER_URL.startswith("rediss://"):
    CELERY_BROKER_TRANSPORT = "kernel.broker:Transport"
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.3}
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for the broker forever, never exits
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="deepiri")
# django-celery-beat's, never sending a job twice across a beat restart (kernel/beat.py).
CELERY_BEAT_SCHEDULER = "kernel.beat:DatabaseScheduler"
# `make run` (scripts/run.sh sets it): Celery beat as a thread of the server process, so periodic
# jobs run without a broker or a beat process (deepiri/embedded_beat.py). Off: `celery beat` runs them.
EMBEDDED_BEAT = env.bool("EMBEDDED_BEAT", default=False)
# The transactional outbox (kernel/jobs.py): the sweep leaves a row this long to the after-commit
# hook that normally publishes it; failed and retried jobs are kept this many days for staff.
OUTBOX_SWEEP_GRACE_SECONDS = env.int("OUTBOX_SWEEP_GRACE_SECONDS", default=10)
# A published row still there this long after (its message lost with the broker's data, or its
# worker killed) is published again: above the broker's visibility timeout, so a job merely
# waiting in a long queue is not doubled.
OUTBOX_REPUBLISH_SECONDS = env.int("OUTBOX_REPUBLISH_SECONDS", default=900)
JOBS_FAILURE_RETENTION_DAYS = env.int("JOBS_FAILURE_RETENTION_DAYS", default=14)
JOBS_TRACEBACK_CHARS = 4000
CELERY_TIMEZONE = "UTC"
# Periodic jobs of every app; beat copies them into the database, where staff can change them in
# the admin.
CELERY_BEAT_SCHEDULE = {
    # deepiri: publish the jobs the broker refused while it was down (kernel.jobs).
    # Every few seconds, so a job whose process died between COMMIT and publish waits little.
    "deepiri-drain-outbox": {"task": "deepiri.drain_outbox", "schedule": 5.0},
    "deepiri-cleanup-job-failures": {"task": "deepiri.cleanup_job_failures", "schedule": 86400.0},
    # challenges: task understanding lost with a dropped job (or one that gave up) is enqueued again.
    "challenges-requeue-understanding": {"task": "challenges.requeue_understanding", "schedule": 300.0},
    # gamification: stored streaks catch up with the calendar on the user's next award; this hourly
    # pass stores them for everyone else (each user's midnight falls on a different UTC hour).
    "gamification-refresh-streaks": {"task": "gamification.refresh_streaks", "schedule": 3600.0},
    # gamification: leaderboards compared with the ledger and fixed (an award that raced a rebuild).
    "gamification-reconcile-leaderboards": {"task": "gamification.reconcile_leaderboards", "schedule": 600.0},
    # challenges: expire active challenges past expiresAt; finish ones stuck in `generating` with the fallback.
    "challenges-expire-overdue": {"task": "challenges.expire_overdue_challenges", "schedule": 60.0},
    # gamification: the streak-at-risk reminder runs hourly (it picks the users whose local time is
    # 20:xx). notifications: old read notifications and stale socket entries are cleaned daily.
    # challenges: multiplayer sessions whose time ran out are ended every minute.
    "gamification-streak-at-risk": {"task": "gamification.streak_at_risk", "schedule": 3600.0},
    "notifications-cleanup": {"task": "notifications.cleanup", "schedule": 86400.0},
    # notifications: recover the socket push of notifications committed but never pushed (a crash
    # between commit and push), once a minute.
    "notifications-repush-pending": {"task": "notifications.repush_pending", "schedule": 60.0},
    "challenges-expire-sessions": {"task": "challenges.expire_sessions", "schedule": 60.0},
    # tasks: reminders that fell due are claimed (row locks, a lease) and sent, every ~15 s.
    "tasks-fire-due-reminders": {"task": "tasks.fire_due_reminders", "schedule": env.float("REMINDERS_SCAN_SECONDS", default=15.0)},
    # analytics: nightly insights, run hourly so each user is handled at 02:xx in their own zone
    # (and sent the weekly insight on their Monday); idempotent if an hour runs twice.
    "analytics-nightly-insights": {"task": "analytics.nightly_insights", "schedule": 3600.0},
    # integrations: due syncs are enqueued every minute; push-notification channels renewed.
    "integrations-enqueue-due-syncs": {
        "task": "integrations.enqueue_due_syncs",
        "schedule": env.float("INTEGRATIONS_BEAT_SECONDS", default=60.0),
    },
    "integrations-renew-webhooks": {"task": "integrations.renew_webhooks", "schedule": 6 * 3600.0},
    # integrations: outgoing webhook deliveries that are due (retries, and first attempts whose
    # job was lost) are queued per endpoint every few seconds.
    "integrations-webhooks-scan": {
        "task": "integrations.webhooks.scan_due",
        "schedule": env.float("WEBHOOK_SCAN_SECONDS", default=3.0),
    },
    # integrations: the sync change log (tombstones included) past SYNC_RETENTION_DAYS is deleted.
    "integrations-sync-cleanup": {"task": "integrations.sync.cleanup", "schedule": 86400.0},
    # accounts: refresh tokens and sign-in families past every token lifetime are deleted.
    "accounts-purge-expired-tokens": {"task": "accounts.purge_expired_tokens", "schedule": 86400.0},
    # accounts: "your personal access token expires in a week", once per token (flag-claimed).
    "accounts-notify-expiring-tokens": {"task": "accounts.notify_expiring_tokens", "schedule": 3600.0},
}
# How long `GET /api/sync` keeps changes and tombstones: an older cursor answers 410 (full sync).
SYNC_RETENTION_DAYS = env.int("SYNC_RETENTION_DAYS", default=30)
# Personal access tokens one account may hold (not revoked).
PAT_MAX_PER_USER = env.int("PAT_MAX_PER_USER", default=50)

# ------------------------------------------------------------------------------
# REST framework, JWT, API docs
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Before JWT: `Bearer dpat_…` is a personal access token, not a malformed JWT.
        "accounts.authentication.PersonalAccessTokenAuthentication",
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kernel.api.permissions.IsUser"],
    "DEFAULT_RENDERER_CLASSES": ["kernel.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kernel.api.parsers.CamelCaseJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "kernel.api.pagination.LimitSkipPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "kernel.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "kernel.api.throttling.AnonThrottle",
        "kernel.api.throttling.UserThrottle",
        "kernel.api.throttling.TokenThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="300/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
        "login_ip": env("THROTTLE_LOGIN_IP", default="30/min"),
        "login_email": env("THROTTLE_LOGIN_EMAIL", default="10/min"),
        # Relaxed under DEBUG so an end-to-end suite against `make run` (dozens of fresh accounts
        # from one address) does not stall for an hour; production keeps 10 an hour.
        "register": env("THROTTLE_REGISTER", default="1000/hour" if DEBUG else "10/hour"),
        "password_confirm": env("THROTTLE_PASSWORD_CONFIRM", default="5/hour"),
        # Per personal access token, beside its user's limit.
        "token": env("THROTTLE_TOKEN", default="600/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# A refresh token presented again within this many seconds of its rotation is refused without
# revoking its family (two tabs refreshing at once); later, reuse revokes the family.
REFRESH_REUSE_GRACE_SECONDS = env.int("REFRESH_REUSE_GRACE_SECONDS", default=10)
# accounts: how long an authenticated user (and roles) may be served from the cache; every write
# to the user or its groups drops the entry at once (accounts/auth_cache.py). 0 turns it off.
AUTH_USER_CACHE_SECONDS = env.int("AUTH_USER_CACHE_SECONDS", default=300)
REFRESH_COOKIE_NAME = "refresh_token"
REFRESH_COOKIE_SECURE = env.bool("REFRESH_COOKIE_SECURE", default=not DEBUG)

SPECTACULAR_SETTINGS = {
    "TITLE": "Deepiri API",
    "DESCRIPTION": "Tasks, AI challenges, gamification, analytics, integrations and notifications.",
    "VERSION": API_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "kernel.api.schema.envelope_hook",
    ],
    # Distinct OpenAPI enum names for the apps' `type`/`status`/... choice sets.
    "ENUM_NAME_OVERRIDES": {
        "TaskTypeEnum": "tasks.models.TaskType",
        "TaskStatusEnum": "tasks.models.TaskStatus",
        "TaskPriorityEnum": "tasks.models.Priority",
        "TaskSourceEnum": "tasks.models.TaskSource",
        "ChallengeTypeEnum": "challenges.models.ChallengeType",
        "ChallengeStatusEnum": "challenges.models.ChallengeStatus",
        "ChallengeDifficultyEnum": "challenges.models.Difficulty",
        "IntegrationServiceEnum": "integrations.models.Service",
        "SyncRunStatusEnum": "integrations.models.SyncRun.Status",
        "SyncRunTriggerEnum": "integrations.models.SyncRun.Trigger",
        "WebhookEndpointStatusEnum": "integrations.webhooks.models.EndpointStatus",
        "WebhookDeliveryStatusEnum": "integrations.webhooks.models.DeliveryStatus",
    },
}

# ------------------------------------------------------------------------------
# CORS and security headers
# ------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:5173", "http://localhost:3000"])
CORS_ALLOW_CREDENTIALS = True
# What a browser's script may read of an answer, and send beyond the defaults: request ids,
# idempotency keys, conditional requests and a pinned API version.
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "API-Version",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Idempotent-Replayed",
    "ETag",
    "Location",
]
# Browsers may send an Idempotency-Key on POST creates (kernel.idempotency), pin API-Version,
# and send the conditional and request-id headers.
CORS_ALLOW_HEADERS = (
    *default_cors_headers,
    "x-request-id",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "api-version",
)
CORS_URLS_REGEX = r"^/(api|ws)/.*$"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# ------------------------------------------------------------------------------
# Email (console in development, locmem in tests, SMTP via EMAIL_URL in production)
# ------------------------------------------------------------------------------
# EMAIL_URL=log:// (or EMAIL_BACKEND=log-only) sends nothing and logs only that a mail was not
# sent, never its body: the explicit choice for a server without mail (make prod's default).
# With DEBUG off, the console backend (which prints tokens into the log) refuses to start.
if env("EMAIL_URL", default="").startswith("log:") or env("EMAIL_BACKEND", default="") == "log-only":
    EMAIL_BACKEND = _config.LOG_ONLY_EMAIL_BACKEND
elif env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Deepiri <no-reply@deepiri.local>")
FRONTEND_URL_SET = bool(env("FRONTEND_URL", default=""))  # required with DEBUG off when mail is sent
FRONTEND_URL = env("FRONTEND_URL", default="") or "http://localhost:5173"
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
# How long an email-verification (or email-change confirmation) link stays valid, in seconds.
EMAIL_VERIFICATION_TIMEOUT = env.int("EMAIL_VERIFICATION_TIMEOUT", default=3 * 86400)

# ------------------------------------------------------------------------------
# Web push (VAPID) and task reminders
# ------------------------------------------------------------------------------
# Web push is on only when the operator sets both VAPID keys: the public key as browsers take it
# (`applicationServerKey`: the uncompressed P-256 point, base64url) and the private key (PEM, or
# the raw key base64url, as `vapid --gen` / py-vapid print them). The subject (mailto: or https:)
# is what push services contact when our pushes misbehave.
VAPID_PUBLIC_KEY = env("VAPID_PUBLIC_KEY", default="")
VAPID_PRIVATE_KEY = env("VAPID_PRIVATE_KEY", default="")
VAPID_SUBJECT = env("VAPID_SUBJECT", default="mailto:admin@deepiri.local")
WEBPUSH_ENABLED = bool(VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY)
# A subscription's endpoint is a URL the browser hands us, so only push services are called: https
# to a host equal to, or under, one of these (the browsers' push services).
WEBPUSH_ENDPOINT_HOSTS = env.list(
    "WEBPUSH_ENDPOINT_HOSTS",
    default=["fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com", "notify.windows.com"],
)
# Hosts also accepted over plain http (empty in production; a loopback push service in tests).
WEBPUSH_INSECURE_ENDPOINT_HOSTS = env.list("WEBPUSH_INSECURE_ENDPOINT_HOSTS", default=[])
# How long a push service keeps a push for an offline browser (a reminder is stale after hours).
WEBPUSH_TTL_SECONDS = env.int("WEBPUSH_TTL_SECONDS", default=6 * 3600)
WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = env.int("WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER", default=20)
WEBPUSH_HTTP_TIMEOUT = env.float("WEBPUSH_HTTP_TIMEOUT", default=5.0)
# Reminders: the due scan's period, how long a claim lasts before another scan may take it (a
# worker that died mid-batch), how late a reminder may still be sent, and a scan's batch/budget.
REMINDERS_SCAN_SECONDS = env.float("REMINDERS_SCAN_SECONDS", default=15.0)
REMINDERS_LEASE_SECONDS = env.int("REMINDERS_LEASE_SECONDS", default=60)
REMINDERS_STALE_SECONDS = env.int("REMINDERS_STALE_SECONDS", default=6 * 3600)
REMINDERS_BATCH = env.int("REMINDERS_BATCH", default=50)
REMINDERS_SCAN_BUDGET_SECONDS = env.float("REMINDERS_SCAN_BUDGET_SECONDS", default=25.0)

# ------------------------------------------------------------------------------
# Admin sign-in: django-axes locks /admin/login/ after ADMIN_LOGIN_FAILURE_LIMIT failures from one
# IP address or for one account (either), for ADMIN_LOGIN_COOLOFF_MINUTES; counters live in the
# cache (Redis; the database without Redis, as a per-process cache would not count across
# workers). The API's login has its own throttles. Staff may add a TOTP device (django-otp);
# with one, the admin asks for its code; ADMIN_REQUIRE_2FA makes it mandatory for the admin role.
# ------------------------------------------------------------------------------
AXES_ONLY_ADMIN_SITE = True
# With Redis unreachable the lockout counts in process memory (kernel.api.throttling.AxesHandler);
# `manage.py axes_reset` lifts every lockout (accounts.axes_handler).
AXES_HANDLER = "accounts.axes_handler.AxesCacheHandler" if REDIS_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=60))
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False
AXES_USERNAME_FORM_FIELD = "username"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
# The client's address as the API throttles see it (NUM_PROXIES), not the gateway's, which every
# request behind it shares (counting by that would let anyone lock everybody out).
AXES_CLIENT_IP_CALLABLE = "kernel.api.throttling.client_ip"
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = "Deepiri"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # a device's secret is shown once, to whoever creates it

# ------------------------------------------------------------------------------
# django-allauth: account management and social login (GitHub, Google)
# ------------------------------------------------------------------------------
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# Addresses signed up through allauth are confirmed by mail before the account signs in; social
# providers' verified addresses count as confirmed. An account whose address was never verified
# loses its password when a provider-verified owner of that address signs in (docs/SECURITY.md).
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False
LOGIN_REDIRECT_URL = "/api/auth/social/complete"
SOCIALACCOUNT_PROVIDERS = {
    "github": {
        "APPS": [
            {"client_id": env("GITHUB_LOGIN_CLIENT_ID", default=""), "secret": env("GITHUB_LOGIN_SECRET", default="")}
        ]
        if env("GITHUB_LOGIN_CLIENT_ID", default="")
        else [],
        "SCOPE": ["read:user", "user:email"],
        # GitHub Enterprise-style base URL override; the tests point it at a fake on 127.0.0.1.
        **({"GITHUB_URL": env("GITHUB_LOGIN_URL")} if env("GITHUB_LOGIN_URL", default="") else {}),
    },
    "google": {
        "APPS": [
            {"client_id": env("GOOGLE_LOGIN_CLIENT_ID", default=""), "secret": env("GOOGLE_LOGIN_SECRET", default="")}
        ]
        if env("GOOGLE_LOGIN_CLIENT_ID", default="")
        else [],
        "SCOPE": ["openid", "email", "profile"],
        "AUTH_PARAMS": {"access_type": "online"},
    },
}

# Optional Firebase sign-in: on when FIREBASE_PROJECT_ID is set.
FIREBASE_PROJECT_ID = env("FIREBASE_PROJECT_ID", default="")
FIREBASE_JWKS_URL = env(
    "FIREBASE_JWKS_URL",
    default="https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
)

# ------------------------------------------------------------------------------
# AI service "cyrex"
# ------------------------------------------------------------------------------
AI_SERVICE_URL = env("AI_SERVICE_URL", default="")
AI_SERVICE_API_KEY = env("AI_SERVICE_API_KEY", default="change-me")
AI_SERVICE_CONNECT_TIMEOUT = env.float("AI_SERVICE_CONNECT_TIMEOUT", default=2.0)
AI_SERVICE_READ_TIMEOUT = env.float("AI_SERVICE_READ_TIMEOUT", default=8.0)
AI_SERVICE_GENERATE_PATH = env("AI_SERVICE_GENERATE_PATH", default="/agent/challenge/generate")
AI_SERVICE_CLASSIFY_PATH = env("AI_SERVICE_CLASSIFY_PATH", default="/agent/task/classify")
# challenges: the AI calls' retry/time budget and circuit breaker (kernel/http.py), and how
# long POST /api/challenges/generate waits for the worker before answering 202.
AI_SERVICE_TOTAL_TIMEOUT = env.float("AI_SERVICE_TOTAL_TIMEOUT", default=15.0)  # per call, retries included
AI_SERVICE_MAX_RETRIES = env.int("AI_SERVICE_MAX_RETRIES", default=2)
AI_SERVICE_BACKOFF = env.float("AI_SERVICE_BACKOFF", default=0.5)
AI_SERVICE_MAX_RETRY_AFTER = env.float("AI_SERVICE_MAX_RETRY_AFTER", default=5.0)
AI_BREAKER_THRESHOLD = env.int("AI_BREAKER_THRESHOLD", default=5)  # failed calls within the window
AI_BREAKER_WINDOW = env.float("AI_BREAKER_WINDOW", default=60.0)
AI_BREAKER_COOLDOWN = env.float("AI_BREAKER_COOLDOWN", default=30.0)
# A hanging AI service: this many slow calls in a row (a timeout, or an answer later than
# AI_BREAKER_SLOW_SECONDS) open the breaker too, and a read timeout is not retried. So a hung
# service holds a worker slot for one AI_SERVICE_READ_TIMEOUT per call, for the first
# AI_BREAKER_SLOW_THRESHOLD calls only; every generation after that falls back at once.
AI_BREAKER_SLOW_THRESHOLD = env.int("AI_BREAKER_SLOW_THRESHOLD", default=2)
AI_BREAKER_SLOW_SECONDS = env.float("AI_BREAKER_SLOW_SECONDS", default=6.0)
CHALLENGE_GENERATION_STALE_SECONDS = env.int("CHALLENGE_GENERATION_STALE_SECONDS", default=600)
# A generation still `generating` this long after its job was queued is queued again (a lost job).
CHALLENGE_GENERATION_REQUEUE_SECONDS = env.int("CHALLENGE_GENERATION_REQUEUE_SECONDS", default=120)
# challenges (multiplayer): invitations per host and hour, and the least time a session runs before
# anyone may finish it (finishing earlier earns no first-finisher bonus).
CHALLENGE_SESSION_INVITES_PER_HOUR = env.int("CHALLENGE_SESSION_INVITES_PER_HOUR", default=30)
CHALLENGE_SESSION_MIN_FINISH_SECONDS = env.int("CHALLENGE_SESSION_MIN_FINISH_SECONDS", default=30)

# ------------------------------------------------------------------------------
# Logging: JSON lines when not in DEBUG, each carrying request id, user id and trace id.
# ------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# One `deepiri.access` line per request (method, path, status, duration, request and user id).
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "kernel.logging.RequestContextFilter"},
        "handled_unavailable": {"()": "kernel.logging.HandledUnavailableFilter"},
        # every line: a calendar feed's URL path is its credential (kernel/redact.py)
        "redact_secrets": {"()": "kernel.redact.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s %(trace_id)s",
        },
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s user=%(user_id)s trace=%(trace_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if DEBUG else "json",
            "filters": ["request_context", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # a 503 (handled outage) at WARNING, not ERROR: kernel.logging.HandledUnavailableFilter
        "django.request": {"level": "ERROR", "filters": ["handled_unavailable"]},
        "django.server": {"level": "WARNING"},
    },
}

# ------------------------------------------------------------------------------
# integrations: provider apps, every base URL overridable (tests point them at
# loopback fakes), token encryption keys (first encrypts, all decrypt: rotation), sync cadence.
# ------------------------------------------------------------------------------
INTEGRATIONS_ENCRYPTION_KEYS = env.list("INTEGRATIONS_ENCRYPTION_KEYS", default=[])
# Public base URL of this API: OAuth redirect URIs and webhook callback URLs are built from it.
# Unset, the webhook URL a client is shown is built from the request's own scheme and host, and
# work done without a request (webhook registration by a worker, OAuth redirect URIs, which must
# match what the provider's console holds) uses http://localhost:8000.
INTEGRATIONS_PUBLIC_URL = env("INTEGRATIONS_PUBLIC_URL", default="")
# integrations (calendar feeds, `GET /cal/{token}.ics`): polls allowed per minute per feed and per
# client address (unknown tokens count against the address), and how often clients are told to poll.
CALENDAR_FEED_PER_MINUTE = env.int("CALENDAR_FEED_PER_MINUTE", default=10)
CALENDAR_FEED_IP_PER_MINUTE = env.int("CALENDAR_FEED_IP_PER_MINUTE", default=120)
CALENDAR_FEED_REFRESH_MINUTES = env.int("CALENDAR_FEED_REFRESH_MINUTES", default=60)
# Where the browser lands after an OAuth callback (`?service=&status=connected|error`).
INTEGRATIONS_COMPLETE_URL = env("INTEGRATIONS_COMPLETE_URL", default=f"{FRONTEND_URL}/integrations")
INTEGRATIONS_STATE_TTL = env.int("INTEGRATIONS_STATE_TTL", default=600)
# The OAuth browser-binding cookie (HttpOnly, SameSite=Lax, lives as long as the state) is Secure
# unless DEBUG: a plain-HTTP development server would never get it back.
INTEGRATIONS_COOKIE_SECURE = env.bool("INTEGRATIONS_COOKIE_SECURE", default=not DEBUG)
INTEGRATIONS_MIN_SYNC_INTERVAL = env.int("INTEGRATIONS_MIN_SYNC_INTERVAL", default=300)
INTEGRATIONS_RECONCILE_SECONDS = env.int("INTEGRATIONS_RECONCILE_SECONDS", default=86400)
INTEGRATIONS_REGISTER_WEBHOOKS = env.bool("INTEGRATIONS_REGISTER_WEBHOOKS", default=False)
# Imported tasks go through task understanding (the AI service's classifier) like typed ones.
# Webhooks: how long staff's "arm verification" window stays open for Notion's handshake, how long
# a signed body is remembered against replays, and how many webhook syncs a connection gets per window.
INTEGRATIONS_WEBHOOK_ARM_MINUTES = env.float("INTEGRATIONS_WEBHOOK_ARM_MINUTES", default=10.0)
INTEGRATIONS_WEBHOOK_REPLAY_WINDOW = env.int("INTEGRATIONS_WEBHOOK_REPLAY_WINDOW", default=86400)
INTEGRATIONS_WEBHOOK_SYNC_LIMIT = env.int("INTEGRATIONS_WEBHOOK_SYNC_LIMIT", default=10)
INTEGRATIONS_WEBHOOK_SYNC_WINDOW = env.int("INTEGRATIONS_WEBHOOK_SYNC_WINDOW", default=60)
INTEGRATIONS_UNDERSTAND_IMPORTS = env.bool("INTEGRATIONS_UNDERSTAND_IMPORTS", default=True)
# Outgoing webhooks (integrations/webhooks): addresses an operator trusts beyond the public
# internet (CIDRs; empty: only globally routable addresses, on WEBHOOK_ALLOWED_PORTS, may receive),
# endpoints per user, undelivered messages kept per endpoint (more are counted as overflow),
# messages per second to one endpoint, how much one job sends to one endpoint before it yields,
# the longest Retry-After honoured, and the largest body.
# Parsed here so a malformed CIDR stops the start instead of failing every delivery.
WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(cidr, strict=False)) for cidr in env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
]
WEBHOOK_ALLOWED_PORTS = [int(p) for p in env.list("WEBHOOK_ALLOWED_PORTS", default=["80", "443", "8080", "8443"])]
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=10)
WEBHOOK_MAX_BACKLOG = env.int("WEBHOOK_MAX_BACKLOG", default=1000)
WEBHOOK_RATE_PER_SECOND = env.float("WEBHOOK_RATE_PER_SECOND", default=10.0)
WEBHOOK_MAX_PER_RUN = env.int("WEBHOOK_MAX_PER_RUN", default=50)
WEBHOOK_RUN_SECONDS = env.float("WEBHOOK_RUN_SECONDS", default=30.0)
WEBHOOK_MAX_RETRY_AFTER = env.int("WEBHOOK_MAX_RETRY_AFTER", default=36000)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=65536)
# The scan marks an endpoint it queued this long, so the next scans do not queue it again while
# its job waits in the broker.
WEBHOOK_SCAN_HOLD_SECONDS = env.int("WEBHOOK_SCAN_HOLD_SECONDS", default=60)
# A worker holds an endpoint and the delivery it sends this long (a lease: a killed worker's
# messages go again after it). Longer than one attempt (15 s).
WEBHOOK_CLAIM_SECONDS = env.float("WEBHOOK_CLAIM_SECONDS", default=30.0)
# Provider calls (kernel/http.py): per-attempt timeouts, a budget per call, inline retries of
# network errors and 5xx, a Retry-After longer than the cap hands the answer back (a 429 always
# does: the sync pauses), a body cap, and the circuit breaker of each provider host.
INTEGRATIONS_HTTP_CONNECT_TIMEOUT = env.float("INTEGRATIONS_HTTP_CONNECT_TIMEOUT", default=3.0)
INTEGRATIONS_HTTP_READ_TIMEOUT = env.float("INTEGRATIONS_HTTP_READ_TIMEOUT", default=15.0)
INTEGRATIONS_HTTP_TOTAL_TIMEOUT = env.float("INTEGRATIONS_HTTP_TOTAL_TIMEOUT", default=45.0)
INTEGRATIONS_HTTP_RETRIES = env.int("INTEGRATIONS_HTTP_RETRIES", default=2)
INTEGRATIONS_HTTP_BACKOFF = env.float("INTEGRATIONS_HTTP_BACKOFF", default=0.2)
INTEGRATIONS_HTTP_MAX_RETRY_AFTER = env.float("INTEGRATIONS_HTTP_MAX_RETRY_AFTER", default=5.0)
INTEGRATIONS_HTTP_MAX_RESPONSE_BYTES = env.int("INTEGRATIONS_HTTP_MAX_RESPONSE_BYTES", default=10_000_000)
INTEGRATIONS_BREAKER_THRESHOLD = env.int("INTEGRATIONS_BREAKER_THRESHOLD", default=5)  # failed calls in the window
INTEGRATIONS_BREAKER_WINDOW = env.float("INTEGRATIONS_BREAKER_WINDOW", default=60.0)
INTEGRATIONS_BREAKER_COOLDOWN = env.float("INTEGRATIONS_BREAKER_COOLDOWN", default=30.0)
INTEGRATIONS_PROVIDERS = {
    "notion": {
        "client_id": env("NOTION_CLIENT_ID", default=""),
        "client_secret": env("NOTION_CLIENT_SECRET", default=""),
        "auth_base": env("NOTION_AUTH_BASE", default="https://api.notion.com"),
        "api_base": env("NOTION_API_BASE", default="https://api.notion.com"),
        "notion_version": env("NOTION_VERSION", default="2026-03-11"),
        "webhook_verification_token": env("NOTION_WEBHOOK_VERIFICATION_TOKEN", default=""),
    },
    "trello": {
        "client_id": env("TRELLO_API_KEY", default=""),
        "client_secret": env("TRELLO_OAUTH_SECRET", default=""),
        "auth_base": env("TRELLO_AUTH_BASE", default="https://trello.com"),
        "api_base": env("TRELLO_API_BASE", default="https://api.trello.com"),
        "app_name": env("TRELLO_APP_NAME", default="Deepiri"),
    },
    "github": {
        "client_id": env("GITHUB_CLIENT_ID", default=""),
        "client_secret": env("GITHUB_CLIENT_SECRET", default=""),
        "auth_base": env("GITHUB_AUTH_BASE", default="https://github.com"),
        "api_base": env("GITHUB_API_BASE", default="https://api.github.com"),
        "webhook_secret": env("GITHUB_WEBHOOK_SECRET", default=""),
    },
    "google_docs": {
        "client_id": env("GOOGLE_CLIENT_ID", default=""),
        "client_secret": env("GOOGLE_CLIENT_SECRET", default=""),
        "auth_url": env("GOOGLE_AUTH_URL", default="https://accounts.google.com/o/oauth2/v2/auth"),
        "token_url": env("GOOGLE_TOKEN_URL", default="https://oauth2.googleapis.com/token"),
        "revoke_url": env("GOOGLE_REVOKE_URL", default="https://oauth2.googleapis.com/revoke"),
        "userinfo_url": env("GOOGLE_USERINFO_URL", default="https://openidconnect.googleapis.com/v1/userinfo"),
        "tasks_base": env("GOOGLE_TASKS_BASE", default="https://tasks.googleapis.com"),
        "drive_base": env("GOOGLE_DRIVE_BASE", default="https://www.googleapis.com"),
        "docs_base": env("GOOGLE_DOCS_BASE", default="https://docs.googleapis.com"),
        "webhook_secret": env("GOOGLE_WEBHOOK_SECRET", default=""),
    },
}

# ------------------------------------------------------------------------------
# Client logs (`POST /api/logs`) and the Socket.IO endpoint for the web client.
# ------------------------------------------------------------------------------
CLIENT_LOG_MAX_BYTES = env.int("CLIENT_LOG_MAX_BYTES", default=16 * 1024)
CLIENT_LOG_RATE = env("CLIENT_LOG_RATE", default="60/min")
# The `/socket.io/` cookie ticket's lifetime (accounts/socket_ticket.py); unset: the access token's.
SOCKET_TICKET_SECONDS = env.int("SOCKET_TICKET_SECONDS", default=0) or None
# Engine.IO heartbeat of `/socket.io/` (seconds; sent to the client in the open packet), and how
# long a socket may stay open without completing the Socket.IO CONNECT.
SOCKETIO_PING_INTERVAL = env.float("SOCKETIO_PING_INTERVAL", default=25.0)
SOCKETIO_PING_TIMEOUT = env.float("SOCKETIO_PING_TIMEOUT", default=20.0)
SOCKETIO_CONNECT_TIMEOUT = env.float("SOCKETIO_CONNECT_TIMEOUT", default=45.0)
