#!/usr/bin/env bash
# `make prod`: the production topology on this machine without Docker (devtools/topology.py):
# DEBUG off, a generated secret, the nginx gateway on :${PORT:-8080} in front of gunicorn and
# daphne, a Celery worker and beat, on the local PostgreSQL and Redis (DATABASE_URL / REDIS_URL,
# default postgres://postgres@127.0.0.1:5432/deepiri and redis://127.0.0.1:6379/0) and MongoDB
# when MONGODB_URI is set. A process that dies is restarted; Ctrl-C stops everything.
# PROD_BIND (default 127.0.0.1) is the gateway's address; PROD_METRICS_PORT (9180) the scrape address;
# `make prod-admin` creates the first admin with the settings written to .prod/env (README, make prod).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
if ! command -v nginx >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian nginx for the gateway..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx) >/dev/null
fi
# Debian's package may have started its own nginx on :80; ours runs from .prod/ on its own port.
exec .venv/bin/python -m devtools.topology
