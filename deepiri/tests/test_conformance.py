"""The OpenAPI schema matches the wire: schemathesis' conformance checks over every operation,
signed in, on both setups (the same live servers and seeded data as the zero-5xx run)."""

from __future__ import annotations

import pytest

from deepiri.testing.liveapi import LiveAPI
from deepiri.tests.test_schemathesis import (
    CONFORMANCE_CHECKS,
    CRASH_CHECKS,
    _postgres_url,
    _report,
    _seed_deletables,
    run_schemathesis,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.mark.parametrize("setup", ["embedded", pytest.param("postgres", marks=pytest.mark.services)])
def test_every_answer_conforms_to_the_schema(setup, tmp_path):
    api = LiveAPI.embedded(tmp_path) if setup == "embedded" else LiveAPI.postgres_redis(tmp_path, _postgres_url())
    with api:
        seeded = api.seed()
        deletable = _seed_deletables(api, seeded)
        code, output, figures = run_schemathesis(
            api, seeded, deletable, tmp_path, checks=f"{CONFORMANCE_CHECKS},{CRASH_CHECKS}"
        )
        log = api.log()
    _report(f"{setup}-conformance", figures)
    assert code == 0, f"{output[-15000:]}\n--- server log ---\n{log[-3000:]}"
    assert figures.get("operations_tested", 0) >= 70, output[-3000:]
