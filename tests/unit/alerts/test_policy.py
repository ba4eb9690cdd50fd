"""Backoff, Retry-After, token bucket, breaker and outage rules."""

from __future__ import annotations

import itertools

import pytest

from monitor.alerts.config import RetrySettings
from monitor.alerts.policy import Breaker, Outage, TokenBucket, backoff, next_delay, retry_after_seconds


def test_backoff_grows_by_factor_up_to_the_cap_with_jitter_between_half_and_full() -> None:
    policy = RetrySettings(initial_s=1.0, factor=2.0, max_s=10.0)
    top = list(itertools.islice(backoff(policy, rand=lambda: 1.0), 6))
    bottom = list(itertools.islice(backoff(policy, rand=lambda: 0.0), 6))
    assert top == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert bottom == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        (None, None),
        ("soon", None),
        ("Wed, 05 Feb 2025 16:00:30 GMT", 30.0),
        ("nan", None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, now_epoch=1_738_771_200.0) == expected


def test_next_delay_honours_retry_after_but_never_waits_less_than_backoff_or_more_than_cap() -> None:
    assert next_delay(0.2, None, 60) == 0.2
    assert next_delay(0.2, 5.0, 60) == 5.0
    assert next_delay(8.0, 0.0, 60) == 8.0
    assert next_delay(0.2, 3600.0, 60) == 60


def test_token_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(1.0)  # reserved: due in 1 s
    assert bucket.take(0.0) == pytest.approx(2.0)
    assert bucket.take(10.0) == 0.0  # refilled (capped at the burst)
    assert bucket.tokens <= 3


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)


def test_breaker_opens_once_and_allows_one_probe_per_interval() -> None:
    breaker = Breaker(probe_interval=300)
    assert breaker.allow(0)
    assert breaker.healthy
    assert breaker.trip("404 no_service", now=10) is True
    assert breaker.trip("404 no_service", now=11) is False  # already broken: no second log line
    assert not breaker.healthy
    assert not breaker.allow(12)
    assert not breaker.allow(310)
    assert breaker.allow(311)  # probe due
    assert breaker.state == "half_open"
    breaker.probe_failed(now=312)
    assert not breaker.allow(313)
    assert breaker.allow(612)
    assert breaker.success() is True
    assert breaker.healthy
    assert breaker.allow(613)
    assert breaker.success() is False


def test_outage_lets_everyone_go_until_a_failure_then_one_probe_at_a_time() -> None:
    outage = Outage(give_up_after=100.0)
    assert outage.admit(0.0, seen=0) == "go"
    assert outage.failed(1.0, 5.0, "HTTP 503", probe=False)  # started the outage
    assert not outage.failed(1.1, 2.0, "HTTP 503", probe=False)  # a second in-flight failure: same outage
    assert outage.next_try == 6.0  # the later of the two waits
    assert outage.admit(3.0, seen=0) == "wait"
    assert outage.wake_at() == 6.0
    assert outage.admit(6.0, seen=0) == "probe"
    assert outage.admit(6.0, seen=0) == "wait"  # only one probe at a time
    assert outage.wake_at() is None  # the others hear from the probe
    outage.failed(6.5, 1.0, "timed out", probe=True)
    assert outage.admit(7.5, seen=0) == "probe"
    assert outage.succeeded(8.0) == 7.0  # the outage lasted from 1.0 to 8.0
    assert outage.admit(8.0, seen=0) == "go"


def test_outage_gives_waiting_jobs_up_at_the_first_failed_probe_after_the_deadline() -> None:
    outage = Outage(give_up_after=10.0)
    outage.failed(0.0, 1.0, "timed out", probe=False)
    early = outage.failures  # a job that has seen one failure
    assert outage.admit(11.0, seen=early) == "probe"  # past the deadline, but no failure seen since it joined
    outage.failed(11.5, 1.0, "timed out", probe=True)
    assert outage.admit(11.6, seen=early) == "give_up"
    assert outage.admit(11.6, seen=0) == "give_up"
    late = outage.failures  # an alert raised now still gets the next probe's chance
    assert outage.admit(11.6, seen=late) == "wait"
    assert outage.admit(12.5, seen=late) == "probe"
    outage.abandon_probe()  # e.g. a rejected payload: another job may probe
    assert outage.admit(12.6, seen=late) == "probe"
