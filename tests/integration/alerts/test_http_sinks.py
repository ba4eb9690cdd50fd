"""Slack and signed-webhook sinks against real local HTTP servers, through the dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest

from monitor.alerts.config import AlertSettings, RetrySettings, SlackSettings, WebhookSettings
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.slack import SlackSink
from monitor.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSink, verify
from monitor.alerts.worker import SinkPolicy
from monitor.bus.memory import MemoryBus
from monitor.config_loader import Secret
from monitor.metrics import Metrics
from tests.integration.alerts.http_receiver import HttpReceiver, Reply, Request
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

SECRET = "whsec-test"
QUICK = RetrySettings(initial_s=0.05, factor=2.0, max_s=2.0, give_up_after_s=30)


def _id(request: Request) -> str:
    body = orjson.loads(request.body)
    if "blocks" in body:  # slack: the id is in the context block
        return body["blocks"][-1]["elements"][0]["text"].split("`")[1]
    return str(body["id"])


def _verifying(request: Request) -> Reply:
    ok = verify(
        SECRET.encode(),
        request.headers.get(TIMESTAMP_HEADER.lower(), ""),
        request.body,
        request.headers.get(SIGNATURE_HEADER.lower(), ""),
        now=__import__("time").time(),
    )
    return Reply(200, b"") if ok else Reply(401, b"bad signature")


@asynccontextmanager
async def dispatching(dispatcher: Dispatcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def test_slack_retries_honours_retry_after_and_breaks_on_404_while_webhook_delivers(metrics: Metrics) -> None:
    webhook_rx = HttpReceiver(_verifying)
    script: list[Reply] = [
        Reply(200, b"ok"),
        Reply(429, b"rate_limited", {"Retry-After": "1"}),
        Reply(500, b"rollup_error"),
        Reply(200, b"ok"),
        Reply(404, b"no_service"),
    ]

    async def slack(request: Request) -> Reply:
        index = len(slack_rx.requests) - 1
        if index == 1:  # hold the 429 until the webhook has everything: Slack's trouble must not delay it
            await webhook_rx.wait_for(lambda rx: len(rx.answered) >= 4)
        return script[index] if index < len(script) else Reply(200, b"ok")

    slack_rx = HttpReceiver(slack)
    bus = MemoryBus(metrics=metrics)
    async with slack_rx, webhook_rx:
        slack_settings = SlackSettings(webhook_url=Secret(slack_rx.url + "/services/T/B/x"), retry=QUICK)
        hook_settings = WebhookSettings(
            url=webhook_rx.url + "/hook", secret=Secret(SECRET), headers={"X-Team": "risk"}, retry=QUICK
        )
        sinks = [
            (SlackSink(slack_settings), SinkPolicy(100, 10, QUICK, probe_interval_s=300)),
            (WebhookSink("webhook:ops", hook_settings), SinkPolicy(100, 10, QUICK, probe_interval_s=300)),
        ]
        dispatcher = Dispatcher(AlertSettings(console=False, block_ms=100), bus, metrics, consumer="t", sinks=sinks)
        async with dispatching(dispatcher):
            for n in range(1, 5):
                await bus.publish_alert(make_alert(n))
            await dispatcher.wait_acked(4, timeout=20)

    # Slack: a1 ok; a2 after 429 (waited Retry-After) and 500; a3 hit 404 -> broken; a4 never requested.
    statuses = [status for _, status, _ in slack_rx.answered]
    assert statuses == [200, 429, 500, 200, 404]
    assert len(slack_rx.requests) == 5  # no retry storm after the 404
    delivered = [_id(req) for req, status, _ in slack_rx.answered if status == 200]
    assert delivered == ["alert-1", "alert-2"]
    answered_429 = slack_rx.answered[1][2]
    assert slack_rx.requests[2].at - answered_429 >= 1.0  # Retry-After: 1 respected
    assert slack_rx.requests[0].headers["content-type"] == "application/json"
    assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": "slack"}) == 0
    assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": "webhook:ops"}) == 1
    dead = [(a.id, sink, reason) for a, sink, reason in bus.dead_letters]
    assert [d[:2] for d in dead] == [("alert-3", "slack"), ("alert-4", "slack")]
    assert "404" in dead[0][2]
    assert "no_service" in dead[0][2]
    # Webhook: every alert once, signed, with the configured header, accepted by the verifying receiver.
    assert [(_id(req), status) for req, status, _ in webhook_rx.answered] == [(f"alert-{n}", 200) for n in range(1, 5)]
    assert all(req.headers["x-team"] == "risk" for req in webhook_rx.requests)
    assert all(req.headers["x-liqmon-alert-id"] == _id(req) for req in webhook_rx.requests)


async def test_webhook_body_is_the_alert_json_and_tampering_is_rejected(metrics: Metrics) -> None:
    async with HttpReceiver(_verifying) as rx:
        sink = WebhookSink("webhook:ops", WebhookSettings(url=rx.url + "/in", secret=Secret(SECRET)))
        alert = make_alert(7, venue="okx")
        await sink.send(alert)
        await sink.aclose()
    request = rx.requests[0]
    assert rx.answered[0][1] == 200
    assert orjson.loads(request.body) == orjson.loads(orjson.dumps(alert))
    ts, sig = request.headers["x-liqmon-timestamp"], request.headers["x-liqmon-signature"]
    tampered = request.body.replace(b'"critical"', b'"info"')
    assert tampered != request.body
    assert not verify(SECRET.encode(), ts, tampered, sig, now=int(ts))
    assert verify(SECRET.encode(), ts, request.body, sig, now=int(ts))


async def test_webhook_4xx_breaks_the_sink_and_400_from_slack_only_drops_the_alert(metrics: Metrics) -> None:
    async with (
        HttpReceiver(lambda _r: Reply(401, b"bad signature")) as hook_rx,
        HttpReceiver(lambda _r: Reply(400, b"invalid_blocks")) as slack_rx,
    ):
        sinks = [
            (WebhookSink("webhook:x", WebhookSettings(url=hook_rx.url)), SinkPolicy(100, 10, QUICK, 300)),
            (SlackSink(SlackSettings(webhook_url=Secret(slack_rx.url))), SinkPolicy(100, 10, QUICK, 300)),
        ]
        bus = MemoryBus(metrics=metrics)
        dispatcher = Dispatcher(AlertSettings(console=False, block_ms=100), bus, metrics, consumer="t", sinks=sinks)
        async with dispatching(dispatcher):
            for n in range(1, 4):
                await bus.publish_alert(make_alert(n))
            await dispatcher.wait_acked(3, timeout=10)
    assert len(hook_rx.requests) == 1  # broken after the first 401, no more requests
    assert len(slack_rx.requests) == 3  # a 400 is about one payload: the sink stays in use
    assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": "webhook:x"}) == 0
    assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": "slack"}) == 1
    reasons = {(a.id, s): r for a, s, r in bus.dead_letters}
    refused = "sink broken: webhook webhook:x: authentication refused (HTTP 401"
    assert reasons[("alert-1", "webhook:x")].startswith(refused)
    assert "alerts.webhooks.x.url" in reasons[("alert-1", "webhook:x")]
    assert reasons[("alert-2", "slack")].startswith("rejected: slack: HTTP 400 invalid_blocks")
