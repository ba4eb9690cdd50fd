"""Grafana dashboards: valid models, real metric names, provisioned datasource, Grafana conventions."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from monitor.metrics import Metrics
from tests.integration.observability.exprs import (
    DASHBOARDS,
    PROVISIONING,
    RATE_INTERVAL,
    dashboard_files,
    dashboard_queries,
    load_dashboard,
    panels,
    range_calls,
    selector_names,
    substitute,
    variable_metrics,
)

FILES = dashboard_files()
IDS = [f.name for f in FILES]
# A duration no dashboard writes by hand, so a substituted $__rate_interval is recognisable.
MARKER = "1234ms"


def provisioned_uid() -> str:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    return str(source["uid"])


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", DASHBOARDS.parent / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_there_are_the_four_dashboards() -> None:
    assert {load_dashboard(f)["uid"] for f in FILES} == {
        "liqmon-liquidations",
        "liqmon-funding-oi",
        "liqmon-health",
        "liqmon-signal-board",
    }


def test_committed_files_match_the_generator() -> None:
    gen = generator()
    assert set(gen.DASHBOARDS) == {f.name for f in FILES}
    for name, build in gen.DASHBOARDS.items():
        committed = (DASHBOARDS / name).read_text(encoding="utf-8")
        assert committed == gen.render(build()), f"{name} is stale: run .venv/bin/python grafana/generate.py"
    assert provisioned_uid() == gen.DATASOURCE_UID


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_dashboard_model(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    dashboard = json.loads(text)
    assert "__inputs" not in dashboard
    assert "${DS_" not in text
    assert 8 <= len(dashboard["uid"]) <= 40
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert "id" not in dashboard or dashboard["id"] is None
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert 1 <= grid["w"] <= 24
        assert grid["x"] + grid["w"] <= 24, f"panel {panel['id']} overflows the grid"
        assert panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['id']} {panel['title']!r} has no query"
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert all(ref_ids)
            assert len(ref_ids) == len(set(ref_ids))


def test_titles_and_uids_are_unique_across_dashboards() -> None:
    models = [load_dashboard(f) for f in FILES]
    assert len({m["uid"] for m in models}) == len(models)
    assert len({m["title"] for m in models}) == len(models)


def _datasources(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            found.append(ds)
        for value in node.values():
            found.extend(_datasources(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_datasources(value))
    return found


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_datasources_are_the_provisioned_one(path: Path) -> None:
    dashboard = load_dashboard(path)
    uid = provisioned_uid()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds_var = variables["datasource"]
    assert ds_var["type"] == "datasource"
    assert ds_var["query"] == "prometheus"
    assert ds_var["current"]["value"] == uid
    for ds in _datasources(dashboard):
        if ds.get("type") == "grafana":
            continue  # the built-in annotations
        assert ds["type"] == "prometheus"
        assert ds["uid"] in (uid, "${datasource}"), f"{path.name}: unknown datasource uid {ds['uid']!r}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_template_variables(path: Path) -> None:
    dashboard = load_dashboard(path)
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert "venue" in names
    if path.name != "liqmon-health.json":
        assert "base" in names
    text = " ".join(q.expr for q in dashboard_queries(path))
    for name in names - {"datasource"}:
        assert f'=~"${name}"' in text, f"{path.name}: variable ${name} is never used"
    # Multi-value variables need regex matchers.
    assert '="$' not in text.replace('=~"$', "")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_metric_is_one_the_exporter_exposes(path: Path, metrics: Metrics) -> None:
    from tests.integration.observability.exprs import exported_names

    exported = exported_names(metrics)
    for query in dashboard_queries(path):
        try:
            names = selector_names(query.promql)
        except ValueError as exc:
            pytest.fail(f"{query.where}: invalid PromQL {query.promql!r}: {exc}")
        assert names, f"{query.where}: selects no metric"
        unknown = names - exported
        assert not unknown, f"{query.where}: {sorted(unknown)} not exported by liqmon"
    for variable, metric in variable_metrics(path):
        assert metric in exported, f"{path.name} variable {variable}: {metric} not exported"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_rates_use_rate_interval(path: Path) -> None:
    marker_s = 1.234
    for query in dashboard_queries(path):
        for func, seconds in range_calls(substitute(query.expr, rate_interval=MARKER)):
            if func in ("rate", "irate"):
                assert seconds == marker_s, f"{query.where}: {func}() must use [$__rate_interval]"
            if func == "increase" and seconds != marker_s:
                # A fixed window is only for "total over the last N" panels that say so in their title.
                window = f"{int(seconds // 3600)}h"
                assert seconds % 3600 == 0, f"{query.where}: increase() over an odd fixed window"
                assert window in query.where, f"{query.where}: increase() over {window} but the title does not say so"


def test_the_marker_substitution_is_recognised() -> None:
    # Guards the check above: the marker must survive parsing as exactly 1.234 s.
    assert range_calls(substitute("rate(x_total[$__rate_interval])", rate_interval=MARKER)) == [("rate", 1.234)]
    assert range_calls(substitute("rate(x_total[$__rate_interval])")) == [("rate", 60.0)]
    assert RATE_INTERVAL == "1m"


def test_a_wrong_metric_name_would_be_caught(metrics: Metrics) -> None:
    from tests.integration.observability.exprs import exported_names

    names = selector_names(substitute('sum(rate(liqmon_liquidated_usd_total{venue=~"$venue"}[$__rate_interval]))'))
    assert names - exported_names(metrics) == {"liqmon_liquidated_usd_total"}


def test_provisioning_points_at_the_dashboards() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "liqmon.yaml").read_text(encoding="utf-8"))
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/var/lib/grafana/dashboards")


def test_required_panels_exist() -> None:
    """What the desk asked for is on the wall screen."""
    exprs = {f.name: " ".join(q.expr for q in dashboard_queries(f)) for f in FILES}
    liq = exprs["liqmon-liquidations.json"]
    assert "rate(liqmon_liquidated_notional_usd_total" in liq
    assert "liqmon_mark_price_usd" in liq
    annotations = load_dashboard(DASHBOARDS / "liqmon-liquidations.json")["annotations"]["list"]
    assert any("liquidation_cascade" in a.get("expr", "") for a in annotations)
    fund = exprs["liqmon-funding-oi.json"]
    for name in ("liqmon_funding_rate_8h", "liqmon_open_interest_base", "liqmon_open_interest_usd", "[1h]", "[24h]"):
        assert name in fund
    health = exprs["liqmon-health.json"]
    for name in (
        "liqmon_feed_connected",
        "liqmon_feed_messages_total",
        "liqmon_feed_reconnects_total",
        "liqmon_feed_parse_errors_total",
        "liqmon_feed_gaps_total",
        "liqmon_feed_seconds_since_last_message",
        "liqmon_bus_lag_entries",
        "liqmon_bus_pending_entries",
        "liqmon_bus_stream_length",
        "liqmon_alerts_delivered_total",
        "liqmon_sink_healthy",
    ):
        assert name in health, name
    board = exprs["liqmon-signal-board.json"]
    for name in (
        "liqmon_liquidated_notional_usd_total",
        "[24h]",
        "[7d]",
        "liqmon_funding_rate_8h",
        "liqmon_options_rr25",
        "liqmon_options_atm_iv",
        "liqmon_options_dvol",
        "liqmon_options_put_oi_top_strike_usd",
        "liqmon_detector_state",
    ):
        assert name in board, name
    # One row per tracked asset.
    rows = [p for p in load_dashboard(DASHBOARDS / "liqmon-signal-board.json")["panels"] if p["type"] == "row"]
    assert [r.get("repeat") for r in rows] == ["base"]
