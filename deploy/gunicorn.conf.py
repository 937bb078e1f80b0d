"""gunicorn settings for the web process, from the environment (compose, make prod, the image).

    GUNICORN_BIND          address to listen on (default 0.0.0.0:8000)
    GUNICORN_WORKERS       worker processes (default 3)
    GUNICORN_WORKER_CLASS  sync (default) or gthread; measured in bench/servers.py and bench/load.py:
                           sync matches gthread's throughput through the gateway with a lower p99
    GUNICORN_THREADS       threads per worker for gthread (default 1)
    GUNICORN_TIMEOUT       seconds before a silent worker is killed and replaced (default 30)

Django logs every request as a JSON line (request id included), so gunicorn's own access log is
off unless GUNICORN_ACCESS_LOG names a file ("-" for stdout). gunicorn's own lines (start, workers,
timeouts, and the access log when on) are JSON too, like every other line the processes write.

Metrics: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode) and /metrics, whichever worker answers, adds up all of them. Unset, the master
makes a fresh directory at each start; whoever sets it (make prod, for all its web processes)
hands over a fresh one. A dead worker's live gauges are dropped (child_exit); its counters stay.

The master checks the configuration (kernel/config.py) before any worker forks: a configuration
that cannot work stops gunicorn with one line and exit status 78, instead of workers that fail
to boot or serve errors.
"""

import os
import tempfile
import time

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# The gateway holds idle upstream connections open (keepalive) for reuse.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
_JSON = {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": _JSON},
    # A calendar feed's URL path is its credential: no line (the access log's request line, an
    # error naming the URL) holds it (kernel/redact.py, standard library only).
    "filters": {"redact_secrets": {"()": "kernel.redact.RedactSecretsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout",
                    "filters": ["redact_secrets"]},
        "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
                          "filters": ["redact_secrets"]},
    },
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        # A logging config switches gunicorn's access log on: it stays quiet unless asked for.
        "gunicorn.access": {"level": "INFO" if accesslog else "WARNING", "handlers": ["console"], "propagate": False},
    },
}
# X-Forwarded-* are interpreted by Django (NUM_PROXIES, SECURE_PROXY_SSL_HEADER), which trusts
# exactly one proxy; gunicorn need not rewrite anything.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Before anything imports prometheus_client: the variable picks its multiprocess mode at import.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="deepiri-metrics-")
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    # process_start_time_seconds of the aggregate: one value for the life of this metrics directory
    os.environ.setdefault("DEEPIRI_METRICS_STARTED", str(time.time()))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")
    from kernel import config  # noqa: PLC0415 - after the environment above is set

    config.check_or_exit("web")
    os.environ[config.CHECKED_ENV] = str(os.getpid())  # the workers need not check again


def child_exit(server, worker):
    from prometheus_client import multiprocess  # noqa: PLC0415 - mode fixed at import: after on_starting

    multiprocess.mark_process_dead(worker.pid)
