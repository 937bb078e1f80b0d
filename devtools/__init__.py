"""Development-only tools, never shipped in the image (.dockerignore): the test harness
(devtools/testing: fake servers, live servers, fault injection, browser and schema helpers) and
the local process supervisor behind `make run` / `make prod` (devtools/topology.py). Production
code never imports this package (an import-linter contract in pyproject.toml)."""
