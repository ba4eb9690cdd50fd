"""docs/metrics.md lists exactly the metric catalogue, and every help text names its unit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.metrics import SCRAPE_FAMILIES, Metrics, ScrapeFamily, catalogue, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
UNIT_WORDS = (
    "(count",
    "count)",
    "count,",
    "USD",
    "seconds",
    "Seconds",
    "fraction",
    "units",
    "1 when",
    "1 while",
    "0 idle",
    "always 1",
)


def documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- metrics-table:start -->\n(.*?)<!-- metrics-table:end -->", text, re.S)
    assert match, "docs/metrics.md lost its metrics-table markers"
    return match.group(1)


def test_the_table_matches_the_catalogue(metrics: Metrics) -> None:
    assert documented_table() == markdown_table(catalogue(metrics)), (
        "docs/metrics.md is stale; regenerate the table with the command given in the file"
    )


def test_the_catalogue_covers_registry_and_scrape_time_families(metrics: Metrics) -> None:
    names = {f.name for f in catalogue(metrics)}
    assert {"liqmon_liquidated_notional_usd_total", "liqmon_decision_latency_seconds", "liqmon_build_info"} <= names
    assert {f.name for f in SCRAPE_FAMILIES} <= names
    # Counters are listed under the name a query uses.
    assert not any(f.type == "counter" and not f.name.endswith("_total") for f in catalogue(metrics))


def test_a_new_metric_makes_the_table_stale(metrics: Metrics) -> None:
    from prometheus_client import Counter

    Counter("liqmon_example_total", "Example (count).", registry=metrics.registry)
    assert "liqmon_example_total" in markdown_table(catalogue(metrics))
    assert documented_table() != markdown_table(catalogue(metrics))


@pytest.mark.parametrize("family", catalogue(Metrics()), ids=lambda f: f.name)
def test_every_help_text_names_its_unit(family: ScrapeFamily) -> None:
    assert any(word in family.help for word in UNIT_WORDS), f"{family.name}: say the unit in {family.help!r}"


def test_labels_are_bounded(metrics: Metrics) -> None:
    allowed = {
        "venue",
        "base",
        "side",
        "kind",
        "sink",
        "reason",
        "channel",
        "status",
        "stream",
        "group",
        "outcome",
        "direction",
        "severity",
        "tenor",  # 7d / 30d / 90d
        "rank",  # 1..10 of the top put strikes (a strike is a value, never a label)
        "field",  # an event field with a plausibility bound: the keys of monitor.events.BOUNDS
    }
    for family in catalogue(metrics):
        assert set(family.labels) <= allowed, f"{family.name}: unexpected label in {family.labels}"
