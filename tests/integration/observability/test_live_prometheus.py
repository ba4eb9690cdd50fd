"""A real Prometheus scrapes a liqmon replaying the February 2026 crash; every dashboard panel,
annotation and rule expression is run through Prometheus's HTTP API.

Each expression must be accepted by Prometheus. It must also return data whenever every metric it
selects has been exposed by the replay (the in-memory bus of a replay has no Redis stream gauges,
and a replay makes no REST polls, so those panels are only syntax- and name-checked here and in
tests/unit/test_dashboards.py). Alert rules are checked for data without their threshold: the
quantity an alert compares must exist even while the alert is quiet. The families the desk's
dashboards are built on must all be produced by the replay.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.integration.observability.exprs import (
    RULES,
    Query,
    dashboard_files,
    dashboard_queries,
    rule_queries,
    selector_names,
    substitute,
    variable_metrics,
)
from tests.support.services import HOST, free_port

pytestmark = pytest.mark.integration

PROMETHEUS = "/usr/bin/prometheus"
LIQMON = [sys.executable, "-m", "monitor"]
SCENARIO_HOURS = 3  # the crash compressed into 3 hours of capture
REPLAY_SECONDS = 12  # wall-clock time the paced replay takes
RATE_INTERVAL = "30s"  # stands in for $__rate_interval at a 1 s scrape interval
# What the desk's dashboards rest on: the replay of a crash must produce every one of these.
CORE_FAMILIES = {
    "liqmon_liquidated_notional_usd_total",
    "liqmon_liquidations_total",
    "liqmon_mark_price_usd",
    "liqmon_funding_rate_8h",
    "liqmon_funding_rate",
    "liqmon_open_interest_base",
    "liqmon_open_interest_usd",
    "liqmon_detector_state",
    "liqmon_alerts_raised_total",
    "liqmon_events_total",
    "liqmon_decision_latency_seconds_bucket",
    # The signal board's options row (Deribit options frames and book summaries in the capture).
    "liqmon_options_rr25",
    "liqmon_options_atm_iv",
    "liqmon_options_dvol",
    "liqmon_options_put_call_oi_ratio",
    "liqmon_options_put_oi_top_strike_usd",
}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPERATORS = {"and", "or", "unless"}
TARGET_LABELS = {"role", "job", "instance"}


def clean_env() -> dict[str, str]:
    """The environment without LIQMON_* settings of whoever runs the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")}


def wait_until(what: str, check: Any, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except OSError:
        return 0, b""


@dataclass
class Prom:
    """The HTTP API of the Prometheus under test."""

    port: int

    def query(self, expr: str) -> dict[str, Any]:
        url = f"http://{HOST}:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        data: dict[str, Any] = json.loads(body) if body else {"status": "error", "error": f"HTTP {status}"}
        return data

    def result(self, expr: str) -> list[dict[str, Any]]:
        data = self.query(expr)
        assert data["status"] == "success", f"Prometheus rejected {expr!r}: {data.get('error')}"
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def names(self) -> set[str]:
        status, body = http_get(f"http://{HOST}:{self.port}/api/v1/label/__name__/values")
        assert status == 200
        return set(json.loads(body)["data"])


def capture_span_s(path: Path) -> float:
    opener = gzip.open if path.suffix == ".gz" else open
    first = last = None
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            recv_ms = json.loads(line)["recv_ms"]
            first = recv_ms if first is None else first
            last = recv_ms
    assert first is not None
    assert last is not None
    return (last - first) / 1000.0


@pytest.fixture(scope="module")
def crash_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capture") / "feb-2026-crash.jsonl.gz"
    done = subprocess.run(
        [*LIQMON, "scenario", "feb-2026-crash", "--hours", str(SCENARIO_HOURS), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, f"liqmon scenario failed ({done.returncode}):\n{done.stderr[-3000:]}"
    assert out.is_file()
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def replay(crash_capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``liqmon replay`` of the crash, paced, holding its metrics endpoint open afterwards."""
    port = free_port()
    logs = tmp_path_factory.mktemp("replay")
    speed = max(1.0, capture_span_s(crash_capture) / REPLAY_SECONDS)
    with (logs / "stderr").open("wb") as err:
        proc = subprocess.Popen(
            [*LIQMON, "replay", str(crash_capture), "--speed", f"{speed:.1f}", "--metrics-port", str(port), "--hold"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=clean_env(),
        )
        try:
            wait_until(
                "liqmon /healthz", lambda: http_get(f"http://{HOST}:{port}/healthz")[0] == 200, timeout=60, proc=proc
            )
            yield port
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def prometheus(replay: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prom]:
    work = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "liqmon", "static_configs": [{"targets": [f"{HOST}:{replay}"], "labels": {"role": "run"}}]}
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with (work / "log").open("wb") as log:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address={HOST}:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                "Prometheus /-/ready",
                lambda: http_get(f"http://{HOST}:{port}/-/ready")[0] == 200,
                timeout=60,
                proc=proc,
            )
            prom = Prom(port)
            wait_until(
                "the liqmon target to be up", lambda: prom.result('up{job="liqmon"} == 1'), timeout=30, proc=proc
            )
            yield prom
        finally:
            stop(proc)


@pytest.fixture(scope="module")
def replayed(prometheus: Prom) -> Prom:
    """Prometheus once the replay has finished: events counted and unchanged for 3 s."""
    finished = (
        "sum(liqmon_events_total) > 0 and sum(liqmon_events_total) == sum(liqmon_events_total offset 3s)"
        " and sum(liqmon_alerts_raised_total) > 0"
    )
    wait_until("the replay to finish", lambda: prometheus.result(finished), timeout=180)
    return prometheus


def without_thresholds(expr: str) -> list[str]:
    """The quantities an alert expression compares, one per operand of its set operators."""

    def strip(node: Any) -> list[Any]:
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if isinstance(node, promql_parser.BinaryExpr):
            op = str(node.op)
            if op in SET_OPERATORS:
                return strip(node.lhs) + strip(node.rhs)
            if op in COMPARISONS and isinstance(node.rhs, promql_parser.NumberLiteral):
                return strip(node.lhs)
        return [node]

    return [str(node) for node in strip(promql_parser.parse(expr))]


def target_selectors(expr: str) -> list[str]:
    """Selectors that filter on labels the scrape config sets (role, job, instance), not the exporter.

    A rule for ``role="detect"`` has nothing to match in a one-process replay; that is a fact about
    the deployment, not a broken expression.
    """
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and any(
            m.name in TARGET_LABELS for m in node.matchers.matchers
        ):
            found.append(str(node))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def all_queries() -> list[Query]:
    found = [q for path in dashboard_files() for q in dashboard_queries(path)]
    return found + rule_queries()


QUERIES = all_queries()


def test_the_replay_produces_every_core_family(replayed: Prom) -> None:
    missing = CORE_FAMILIES - replayed.names()
    assert not missing, f"the crash replay never exposed {sorted(missing)}"


def test_the_crash_raised_cascade_alerts(replayed: Prom) -> None:
    raised = replayed.result('sum by (kind) (liqmon_alerts_raised_total{kind="liquidation_cascade"}) > 0')
    assert raised
    notional = replayed.result('sum(liqmon_liquidated_notional_usd_total{side="long", base="BTC"})')
    assert float(notional[0]["value"][1]) > 1e6


@pytest.mark.parametrize("query", QUERIES, ids=[q.where for q in QUERIES])
def test_expression_runs_against_real_prometheus(query: Query, replayed: Prom) -> None:
    expr = substitute(query.expr, rate_interval=RATE_INTERVAL)
    checked = without_thresholds(expr) if query.kind == "alert" else [expr]
    exposed = replayed.names()
    replay_exercises = selector_names(expr) <= exposed and all(
        replayed.result(selector) for selector in target_selectors(expr)
    )
    assert replayed.query(expr)["status"] == "success", f"{query.where}: Prometheus rejected {expr!r}"
    for part in checked:
        # An annotation marks the moments its expression holds (a detector firing), so it is checked
        # over the whole replay rather than at the instant the replay happened to end.
        result = replayed.result(f"max_over_time(({part})[10m:1s])" if query.kind == "annotation" else part)
        if replay_exercises and selector_names(part) <= exposed:
            assert result, f"{query.where}: {part!r} returned no data although its metrics are exposed"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_template_variables_find_values(path: Path, replayed: Prom) -> None:
    for variable, metric in variable_metrics(path):
        assert replayed.result(f"count({metric})"), f"{path.name}: ${variable} would offer no values"


def test_most_expressions_are_exercised_by_the_replay(replayed: Prom) -> None:
    """Guards against the data check above silently covering little: most queries must hit data."""
    exposed = replayed.names()
    exercised = [q for q in QUERIES if selector_names(substitute(q.expr)) <= exposed]
    assert len(exercised) >= 0.6 * len(QUERIES), (
        f"only {len(exercised)} of {len(QUERIES)} expressions select metrics the replay exposes"
    )
