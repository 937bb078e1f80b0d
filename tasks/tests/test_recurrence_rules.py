"""The recurrence rules against the shared vector file, and the DST property (a modest number of
examples here; bench/recurrence.py runs 10,000)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.api.times import iso_utc
from tasks.recurrence import rules
from tasks.recurrence.text import describe

VECTORS = json.loads((Path(__file__).parent / "data" / "recurrence_vectors.json").read_text())["cases"]
DST_ZONES = ["Europe/Berlin", "America/New_York", "Pacific/Auckland", "Australia/Lord_Howe", "America/Santiago",
             "Europe/London", "America/Los_Angeles", "Asia/Tehran", "America/Havana"]
RULES = ["FREQ=DAILY", "FREQ=WEEKLY", "FREQ=DAILY;INTERVAL=2", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=MONTHLY",
         "FREQ=MONTHLY;BYDAY=-1SU", "FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=WEEKLY;BYDAY=SU"]


def run_vector(case: dict) -> None:
    start = rules.from_text(case["start"])
    tz_name, anchor = case["tz"], case.get("anchor", "due")
    tz = rules.zone(tz_name)
    if "error" in case:
        with pytest.raises(rules.RuleError) as caught:
            rules.check(case["rule"], start, tz_name)
        assert caught.value.code == case["error"]
        return
    rule = rules.check(case["rule"], start, tz_name)
    assert describe(rule, anchor)
    if "completed_local" in case:
        following = rules.completion_next(rule, start.time(), tz_name, rules.from_text(case["completed_local"]))
        assert iso_utc(rules.place(following, tz)) == case["expect_next"]
        return
    got = [iso_utc(rules.place(v, tz)) for v in rules.first_instances(rule, anchor, start, tz_name, len(case["expect"]))]
    assert got == case["expect"]
    if "total" in case:
        assert len(rules.first_instances(rule, anchor, start, tz_name, 50)) == case["total"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors(case):
    run_vector(case)


def test_vector_file_covers_the_issue():
    assert len(VECTORS) >= 25


def check_property(zone_name: str, rule: str, start: datetime) -> None:
    """Every following instance keeps the first's wall time unless that time does not exist that
    day (a gap), and each is strictly later than the one before."""
    tz = rules.zone(zone_name)
    previous = rules.place(start, tz)
    for local in rules.due_after(rule, start, zone_name, start, 6):
        placed = rules.place(local, tz)
        assert placed > previous, (zone_name, rule, start, local)
        shown = rules.local_of(placed, tz)
        if rules.exists_locally(local, tz):
            assert shown.time() == start.time(), (zone_name, rule, start, local, shown)
        else:
            assert shown > local and shown - local <= timedelta(hours=1), (zone_name, rule, start, local, shown)
        previous = placed


property_inputs = given(
    zone_name=st.sampled_from(DST_ZONES),
    rule=st.sampled_from(RULES),
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@property_inputs
def test_next_occurrence_keeps_wall_time_and_is_later(zone_name, rule, start):
    check_property(zone_name, rule, start)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR", "Every week on Monday, Wednesday and Friday"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Every weekday"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "Every month on the last Friday"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=6", "Every month on the last day, 6 times"),
        ("FREQ=DAILY;INTERVAL=3", "Every 3 days"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;UNTIL=20401231", "Every year in February on day 29, until 2040-12-31"),
    ],
)
def test_text(rule, text):
    assert describe(rule) == text


def test_text_of_completion_anchor():
    assert describe("FREQ=DAILY;INTERVAL=3", "completion") == "Every 3 days after completion"
