"""Reconnect delays: jittered first retry, capped growth, a policy that can be injected."""

from __future__ import annotations

import itertools

import pytest

from monitor.venues.backoff import BackoffPolicy, backoff


def test_first_delay_is_random_below_initial() -> None:
    delays = backoff(initial_s=2.0, min_s=1.0, max_s=8.0, rand=lambda: 0.25)
    assert next(delays) == 0.5


def test_growth_without_jitter_is_geometric_and_capped() -> None:
    delays = backoff(initial_s=1.0, min_s=1.0, max_s=8.0, factor=2.0, jitter=0.0, rand=lambda: 0.0)
    assert list(itertools.islice(delays, 7)) == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999])
def test_jitter_stays_within_bounds_and_never_exceeds_the_cap(rand: float) -> None:
    delays = list(itertools.islice(backoff(1.0, 1.0, 10.0, 2.0, jitter=0.2, rand=lambda: rand), 1, 30))
    nominal = [min(10.0, 2.0**i) for i in range(len(delays))]
    for got, base in zip(delays, nominal, strict=True):
        assert base * 0.8 - 1e-9 <= got <= min(10.0, base * 1.2) + 1e-9


@pytest.mark.parametrize("kwargs", [{"min_s": 0}, {"min_s": 2, "max_s": 1}, {"factor": 0.5}, {"jitter": 1.0}])
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        next(backoff(**kwargs))


def test_policy_uses_an_injected_generator() -> None:
    policy = BackoffPolicy(delays=lambda: iter([0.001, 0.002]))
    assert list(policy.start()) == [0.001, 0.002]
    assert next(BackoffPolicy(initial_s=0.0, min_s=0.01, max_s=0.01).start()) == 0.0
