"""FastHistogram exposes exactly what prometheus_client's Histogram would for the same observations."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from monitor.histogram import FastHistogram
from monitor.metrics import LATENCY_BUCKETS

values = st.lists(
    st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(min_value=0.0, max_value=1e4, allow_nan=False)),
    max_size=200,
)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@given(values)
def test_same_exposition_as_the_library_histogram(observations: list[float]) -> None:
    reference, fast_registry = CollectorRegistry(), CollectorRegistry()
    library = Histogram("x_seconds", "help", buckets=LATENCY_BUCKETS, registry=reference)
    fast = FastHistogram("x_seconds", "help", LATENCY_BUCKETS)
    fast_registry.register(fast)
    batched, batched_registry = FastHistogram("x_seconds", "help", LATENCY_BUCKETS), CollectorRegistry()
    batched_registry.register(batched)
    for value in observations:
        library.observe(value)
        fast.observe(value)
    batched.observe_many(observations[:50])
    batched.observe_many(observations[50:])
    assert exposition(fast_registry) == exposition(reference)
    assert exposition(batched_registry) == exposition(reference)


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    fast = FastHistogram("x_seconds", "help", (0.001, 0.01))
    fast.observe(0.001)
    fast.observe(0.0011)
    assert fast.counts == [1, 1, 0]
