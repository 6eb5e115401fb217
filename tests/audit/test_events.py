"""Event ids and time stamps: the shapes the log and its readers rely on."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from audit.events import clock_text, format_time, now_text, parse_time, prepare, uuid7

TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_uuid7_is_a_canonical_version_7_uuid_in_time_order() -> None:
    ids = [uuid7() for _ in range(200)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical: lower case, dashes in place
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    # the first 48 bits are the Unix time in milliseconds
    ms = uuid.UUID(ids[-1]).int >> 80
    assert abs(ms - time.time_ns() // 1_000_000) < 5_000
    # ids made in different milliseconds sort by time
    earlier = uuid7()
    time.sleep(0.002)
    assert earlier < uuid7()


def test_now_text_reads_as_format_time_writes() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    text = now_text()
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    assert TIME_TEXT.fullmatch(text)
    assert before <= parse_time(text.replace("Z", "+00:00")) <= after
    assert format_time(parse_time(text.replace("Z", "+00:00"))) == text


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 1, 1)))
def test_the_clock_text_of_any_moment_is_what_format_time_writes(moment: datetime) -> None:
    stamp = moment.replace(tzinfo=UTC)
    # Whole seconds by integer arithmetic: a float timestamp rounds far-future moments.
    seconds = (stamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
    ns = seconds * 1_000_000_000 + stamp.microsecond * 1_000
    assert clock_text(ns) == format_time(stamp)
    assert clock_text(ns + 1_000_000_000) == format_time(stamp + timedelta(seconds=1))
    assert clock_text(ns) == format_time(stamp)  # the kept second is replaced, not reused


def test_prepare_stamps_the_time_unless_given() -> None:
    event = {"action": "resident.read", "decision": "allow", "agency": "dinsos"}
    stamped = prepare(event, [])
    assert TIME_TEXT.fullmatch(str(stamped.columns["time"]))
    given_moment = datetime(2026, 1, 31, 8, 15, 0, 250_000, tzinfo=UTC)
    assert prepare(event, [], now=given_moment).columns["time"] == "2026-01-31T08:15:00.250Z"
