"""gunicorn settings for the web process, from the environment (compose, make prod, the image).

    GUNICORN_BIND          address to listen on (default 0.0.0.0:8000)
    GUNICORN_WORKERS       worker processes (default 3)
    GUNICORN_WORKER_CLASS  sync (default) or gthread; measured in bench/servers.py and bench/load.py:
                           sync matches gthread's throughput through the gateway with a lower p99
    GUNICORN_THREADS       threads per worker for gthread (default 1)
    GUNICORN_TIMEOUT       seconds before a silent worker is killed and replaced (default 30)

Django logs every request as a JSON line (request id included), so gunicorn's own access log is
off unless GUNICORN_ACCESS_LOG is set ("-": stdout). gunicorn's own lines (start, workers,
timeouts, and the access log when on) are JSON too, like every other line the processes write.
"""

import os

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
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
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
