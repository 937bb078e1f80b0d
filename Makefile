# The two commands of the README. Both set everything up on a fresh machine.
.PHONY: run test lint bench
run:
	./scripts/run.sh
test:
	./scripts/test.sh
lint:
	.venv/bin/ruff check .
