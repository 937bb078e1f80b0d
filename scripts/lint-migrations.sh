#!/usr/bin/env bash
# The migration gate (scripts/lint_migrations.py): django-migration-linter and squawk over every
# migration added since deploy/previous-release, one leaf per app, no model change unmigrated.
# Needs DATABASE_URL pointing at PostgreSQL (sqlmigrate prints that backend's SQL).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/lint_migrations.py "$@"
