"""liqmon's own alerts through the shipped Alertmanager routing (deploy/alertmanager/alertmanager.yml).

The routes, matchers and inhibit rules are the shipped ones; only the Slack
receivers are swapped for local webhook receivers (Slack is not reachable
here) and the group waits shortened, so the test sees which receiver gets what.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from monitor.alerts.alertmanager import AlertmanagerSink, labels
from monitor.alerts.config import AlertmanagerSettings
from monitor.alerts.text import _DIRECTION_WORDS
from tests.integration.alerts.alertmanager_server import AMTOOL, running_alertmanager
from tests.integration.alerts.http_receiver import HttpReceiver
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[3] / "deploy" / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> str:
    done = subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _rules() -> list[dict[str, Any]]:
    path = SHIPPED.parents[1] / "prometheus" / "rules" / "liqmon.yml"
    return [r for g in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]


@pytest.mark.parametrize(("kind", "direction"), sorted(_DIRECTION_WORDS))
def test_every_detector_alert_routes_to_the_desk_with_amtool(kind: str, direction: str) -> None:
    for severity in ("warning", "critical"):
        alert = make_alert(kind=kind, direction=direction, severity=severity, venue="binance")
        pairs = [f"{k}={v}" for k, v in labels(alert).items()]
        out = amtool("config", "routes", "test", f"--config.file={SHIPPED}", *pairs)
        assert out.splitlines()[0].strip() == "desk-slack", (pairs, out)


def _matches_alertname(matcher: str, name: str) -> bool:
    """Whether an inhibit matcher on ``alertname`` (``=`` or ``=~``) selects ``name``."""
    found = re.fullmatch(r'\s*alertname\s*(=~|=)\s*"?(.*?)"?\s*', matcher)
    if found is None:
        return False
    op, value = found.groups()
    return re.fullmatch(value, name) is not None if op == "=~" else value == name


def test_no_prometheus_rule_or_inhibit_rule_names_our_alerts() -> None:
    ours = {labels(make_alert(kind=k, direction=d))["alertname"] for k, d in _DIRECTION_WORDS}
    rule_names = {r["alert"] for r in _rules() if "alert" in r}
    assert not ours & rule_names
    assert _matches_alertname('alertname=~"LiquidationCascade|FundingFlip"', "FundingFlip")  # the check works
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            assert not [n for n in ours if _matches_alertname(matcher, n)], matcher


def _desk_config(desk_url: str, ops_url: str) -> str:
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    urls = {"desk-slack": desk_url, "ops-slack": ops_url}
    for receiver in config["receivers"]:
        receiver.pop("slack_configs")
        receiver["webhook_configs"] = [{"url": urls[receiver["name"]], "send_resolved": True}]
    for route in [config["route"], *config["route"]["routes"]]:
        if "group_wait" in route:
            route["group_wait"] = "1s"
    config["route"]["group_wait"] = "1s"
    return yaml.safe_dump(config)


def _state(url: str) -> dict[str, dict[str, Any]]:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a for a in alerts}


async def test_a_critical_cascade_reaches_the_desk_and_is_not_inhibited_by_the_rule_alerts(tmp_path: Path) -> None:
    async with HttpReceiver() as desk, HttpReceiver() as ops:
        with running_alertmanager(tmp_path, _desk_config(f"{desk.url}/desk", f"{ops.url}/ops")) as url:
            now = time.time()
            # liqmon's sink pushes the episode as the detector decides ...
            sink = AlertmanagerSink(AlertmanagerSettings(url=url, resend_interval_s=120))
            started = int(now * 1000) - 20_000
            await sink.send(make_alert(1, severity="critical", started_ms=started, ts_ms=started + 10_000))
            await sink.aclose()
            # ... and Prometheus fires its rules on the detector-state metric a scrape or two later.
            rule_alerts = [
                {
                    "labels": {
                        "alertname": name,
                        "base": "BTC",
                        "direction": "long",
                        "severity": severity,
                        "category": "market",
                    },
                    "annotations": {"summary": "rule"},
                    "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)),
                }
                for name, severity in (("LiquidationCascade", "warning"), ("LiquidationCascadeCritical", "critical"))
            ]
            await asyncio.to_thread(
                httpx.post,
                f"{url}/api/v2/alerts",
                content=orjson.dumps(rule_alerts),
                timeout=5,
                headers={"Content-Type": "application/json"},
            )
            state = await asyncio.to_thread(_state, url)
            ours = state["LiquidationCascadeDetected"]
            assert ours["status"]["state"] == "active"
            assert ours["status"]["inhibitedBy"] == []
            assert state["LiquidationCascadeCritical"]["status"]["state"] == "suppressed"
            assert state["LiquidationCascade"]["status"]["state"] == "suppressed"
            # amtool sees the same through the API.
            listed = json.loads(
                await asyncio.to_thread(
                    amtool, "alert", "query", f"--alertmanager.url={url}", "-o", "json", "source=liqmon"
                )
            )
            assert [a["labels"]["alertname"] for a in listed] == ["LiquidationCascadeDetected"]

            def desk_got_ours(rx: HttpReceiver) -> bool:
                return any(
                    a["labels"]["alertname"] == "LiquidationCascadeDetected"
                    for r in rx.requests
                    for a in orjson.loads(r.body)["alerts"]
                )

            await desk.wait_for(desk_got_ours, timeout=20)
    notified = [a["labels"]["alertname"] for r in ops.requests + desk.requests for a in orjson.loads(r.body)["alerts"]]
    assert notified == ["LiquidationCascadeDetected"]  # the desk is told once; the inhibited rule alerts never go out
