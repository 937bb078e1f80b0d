#!/usr/bin/env bash
# README "run": set up, migrate, load demo data (prints the staff account), serve HTTP + WebSocket on :8000.
# With no DATABASE_URL / REDIS_URL / MONGODB_URI / AI_SERVICE_URL it uses the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
export DEBUG=${DEBUG:-1}
export DJANGO_SETTINGS_MODULE=deepiri.settings
# The periodic jobs (syncs, sweeps, reminders) run in a thread of the server (deepiri/embedded_beat.py).
export EMBEDDED_BEAT=${EMBEDDED_BEAT:-1}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
PORT=${PORT:-8000}
echo "Serving HTTP and WebSocket on http://127.0.0.1:${PORT} (API docs: /api/docs/, admin: /admin/)"
# daphne is in INSTALLED_APPS, so runserver is daphne's ASGI server: /api, /admin and /ws/ on one port.
exec .venv/bin/python manage.py runserver "0.0.0.0:${PORT}"
