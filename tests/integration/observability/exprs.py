"""Where the PromQL in dashboards and rules lives, and what it refers to.

Shared by the dashboard/rule unit tests and the live-Prometheus integration
test, so both check exactly the same expressions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml
from prometheus_client import generate_latest

from monitor.metrics import SCRAPE_FAMILIES, Metrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules"

# What Grafana would put in place of its built-in variables when checking syntax.
RATE_INTERVAL = "1m"
_BUILTINS = {"$__rate_interval": RATE_INTERVAL, "$__interval": "30s", "$__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL expression and where it came from (for failure messages)."""

    where: str
    expr: str
    kind: str = "panel"  # panel | annotation | record | alert

    @property
    def promql(self) -> str:
        """The expression with Grafana variables substituted."""
        return substitute(self.expr)


def substitute(expr: str, *, rate_interval: str = RATE_INTERVAL) -> str:
    """Replace Grafana built-ins by durations and template variables by a match-all regex."""
    for name, value in _BUILTINS.items():
        expr = expr.replace(name, rate_interval if name == "$__rate_interval" else value)
    return _VARIABLE.sub(".*", expr)


def dashboard_files() -> list[Path]:
    """Every dashboard JSON file."""
    return sorted(DASHBOARDS.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    """The JSON model of a dashboard file."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(path: Path) -> list[Query]:
    """Every PromQL expression of a dashboard: panel targets and annotations."""
    dashboard = load_dashboard(path)
    found = [
        Query(
            f"{path.name} panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}", target["expr"]
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    found += [
        Query(f"{path.name} annotation {a.get('name')!r}", a["expr"], "annotation")
        for a in dashboard.get("annotations", {}).get("list", [])
        if "expr" in a
    ]
    return found


def variable_metrics(path: Path) -> list[tuple[str, str]]:
    """(variable name, metric) for every ``label_values(metric, label)`` template variable."""
    found = []
    for variable in load_dashboard(path).get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((\w+)\s*,\s*(\w+)\)", query.strip())
        assert match, f"{path.name} variable {variable['name']}: expected label_values(metric, label), got {query!r}"
        found.append((variable["name"], match.group(1)))
    return found


def rule_files() -> list[Path]:
    """Every Prometheus rule file."""
    return sorted(RULES.glob("*.yml"))


def rules() -> list[dict[str, Any]]:
    """Every rule of every rule file."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found.extend(group["rules"])
    return found


def rule_queries() -> list[Query]:
    """Every rule expression."""
    return [
        Query(
            f"rule {rule.get('record') or rule.get('alert')}", rule["expr"], "record" if "record" in rule else "alert"
        )
        for rule in rules()
    ]


def recorded_names() -> set[str]:
    """Series names the recording rules produce."""
    return {rule["record"] for rule in rules() if "record" in rule}


def selector_names(expr: str) -> set[str]:
    """Metric names the expression selects (raises ValueError on bad PromQL)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    names.add(matcher.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def range_calls(expr: str) -> list[tuple[str, float]]:
    """(function, range seconds) for each function applied directly to a range selector."""
    found: list[tuple[str, float]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.Call):
            for arg in node.args:
                if isinstance(arg, promql_parser.MatrixSelector):
                    found.append((node.func.name, arg.range.total_seconds()))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def exported_names(metrics: Metrics) -> set[str]:
    """Series names a real scrape of ``metrics`` can contain, plus the scrape-time families."""
    text = generate_latest(metrics.registry).decode()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names |= _series_of(name, kind)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    for family in SCRAPE_FAMILIES:
        names |= _series_of(family.name, family.type)
    return names


def _series_of(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {name if name.endswith("_total") else f"{name}_total"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    if kind == "info":
        return {f"{name}_info"}
    return {name}
