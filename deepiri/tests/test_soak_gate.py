"""The soak gate's decision (bench/soak.py `judge`) on synthetic series: of the shapes a healthy
process draws over a 10-minute run, only a steady climb fails."""

from __future__ import annotations

import random

import pytest

from bench.soak import FLOORS, judge

MINUTES = [i * 0.25 for i in range(41)]  # a sample every 15 s for 10 minutes
_noise = random.Random(7)


def _series(level, f, noise=0.0):
    return [level + f(i) + _noise.uniform(-noise, noise) for i in range(len(MINUTES))]


CASES = [
    # (name, kind, samples, fails)
    ("flat", "rss", _series(120, lambda i: 0), False),
    ("noisy flat", "rss", _series(120, lambda i: 0, noise=4), False),
    ("GC sawtooth", "rss", _series(150, lambda i: 12 * (i % 6), noise=1), False),
    ("warm-up then flat", "rss", _series(80, lambda i: min(i, 12) * 4, noise=1), False),
    ("pool filling to its size", "pg connections", _series(2, lambda i: min(i, 20) // 2), False),
    ("slow climb under the floor", "outbox", _series(0, lambda i: i // 4), False),
    ("noisy key count", "redis keys", _series(3000, lambda i: 0, noise=150), False),
    ("steady leak", "rss", _series(100, lambda i: 0.75 * i, noise=1), True),  # 3 MB a minute
    ("descriptor leak", "fds", _series(40, lambda i: i, noise=0), True),
    ("outbox backlog growing", "outbox", _series(0, lambda i: 10 * i, noise=3), True),
]


@pytest.mark.parametrize(("name", "kind", "samples", "fails"), CASES, ids=[c[0] for c in CASES])
def test_only_a_steady_climb_fails(name, kind, samples, fails):
    verdict = judge(MINUTES, samples, floor=FLOORS[kind])
    assert verdict.grows is fails, (name, verdict)


def test_too_few_samples_never_fail():
    assert not judge([0.0, 0.25], [100.0, 500.0], floor=20).grows
