# The two commands of the README. Both set everything up on a fresh machine.
.PHONY: run test lint bench prod prod-admin
run:
	DEBUG=$${DEBUG:-1} ./scripts/run.sh
test:
	./scripts/test.sh
# The production topology on this machine without Docker: nginx gateway, gunicorn, daphne, Celery.
prod:
	./scripts/prod-local.sh
# The first admin of `make prod`, with the settings it last started with (.prod/env).
prod-admin:
	.venv/bin/python -m devtools.topology createadmin
lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} ./scripts/lint-migrations.sh
