"""Telegram and Discord sinks against local servers that speak their API shapes and rate limits.

The servers (tests/integration/alerts/chat_apis.py) check escaping and length limits like the real
services, keep per-chat / per-webhook rate limits, and can answer every request with 429 +
``retry_after`` for a flood window that starts with the first request.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from monitor.alert import Alert, episode_key
from monitor.alerts.config import AlertSettings, DiscordSettings, RetrySettings, TelegramSettings
from monitor.alerts.discord import DiscordSink
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.selftest import send_test_alert
from monitor.alerts.telegram import TelegramSink, plain, render
from monitor.alerts.worker import SinkPolicy
from monitor.bus.memory import MemoryBus
from monitor.commands.backtest import detect, parse_records
from monitor.config_loader import Secret
from monitor.detectors.config import DetectorSettings
from monitor.metrics import Metrics
from monitor.sim.scenario import generate
from tests.integration.alerts.chat_apis import FakeDiscord, FakeTelegram, discord_id, telegram_id
from tests.integration.alerts.http_receiver import HttpReceiver, Reply, Request
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

TOKEN = "123456:ABC-test-token"
WEBHOOK = "1122/hook-token"
RETRY = RetrySettings(initial_s=0.05, factor=2.0, max_s=120.0, give_up_after_s=600)


@pytest.fixture(scope="module")
def crash_alerts() -> list[Alert]:
    """The alerts liqmon raises on six hours of the feb-2026-crash scenario (seed 1)."""
    parsed = parse_records(generate("feb-2026-crash", seed=1, hours=6).records)
    assert not parsed.parse_errors
    alerts = detect(parsed.events, DetectorSettings())
    assert len(alerts) >= 10
    return alerts


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


def _telegram(url: str, **kw: Any) -> TelegramSink:
    token = Secret(kw.pop("token", TOKEN))
    return TelegramSink(TelegramSettings(bot_token=token, chat_id="-1001", api_url=url, rate_per_s=20, **kw))


def _discord(url: str, **kw: Any) -> DiscordSink:
    return DiscordSink(DiscordSettings(webhook_url=Secret(f"{url}/api/webhooks/{kw.pop('hook', WEBHOOK)}"), **kw))


async def _deliver_crash(crash_alerts: list[Alert], metrics: Metrics, flood_s: float, step_s: float) -> None:
    rate = 20.0  # the servers' per-chat / per-webhook limits, scaled up with the sinks' rates to keep this short
    telegram_api = FakeTelegram(TOKEN, per_chat_per_s=rate, flood_s=flood_s, flood_step_s=step_s)
    discord_api = FakeDiscord(WEBHOOK, limit=5, per_s=5 / rate, flood_s=flood_s, flood_step_s=step_s)
    async with HttpReceiver(telegram_api) as tg, HttpReceiver(discord_api) as dc:
        sinks = [
            (_telegram(tg.url), SinkPolicy(rate, 1, RETRY, 300)),
            (_discord(dc.url), SinkPolicy(rate, 1, RETRY, 300)),
        ]
        bus = MemoryBus(metrics=metrics)
        dispatcher = Dispatcher(AlertSettings(console=False, block_ms=50), bus, metrics, consumer="t", sinks=sinks)
        async with dispatching(dispatcher):
            for alert in crash_alerts:
                await bus.publish_alert(alert)
            await dispatcher.wait_acked(len(crash_alerts), timeout=flood_s + 30)
    assert bus.dead_letters == []
    rounds = math.ceil(flood_s / step_s)
    for name, flood in (("telegram", telegram_api.flood), ("discord", discord_api.flood)):
        # The window was hit and honoured: one request per retry_after round, none before its time.
        assert rounds <= flood.refused <= rounds + 1, (name, flood.refused)
        assert flood.ignored == 0, name
        retried = metrics.registry.get_sample_value(
            "liqmon_alerts_delivered_total", {"sink": name, "outcome": "retried"}
        )
        assert retried == flood.refused + (telegram_api.too_many - flood.refused if name == "telegram" else 0)
    expected = [a.id for a in crash_alerts]
    for got in ([telegram_id(m) for m in telegram_api.accepted], [discord_id(p) for p in discord_api.accepted]):
        assert Counter(got) == Counter(expected)  # every alert exactly once
        for alert in crash_alerts:  # within an episode, in the order raised
            same = [a.id for a in crash_alerts if episode_key(a) == episode_key(alert)]
            assert [i for i in got if i in same] == same
    print(
        f"chat sinks: {len(expected)} feb-2026-crash alerts, 429 for {flood_s:.0f} s in {step_s:.0f} s rounds: "
        f"telegram refused {telegram_api.flood.refused}, discord refused {discord_api.flood.refused}, "
        f"early retries 0, each alert delivered once to each"
    )


@pytest.mark.slow
async def test_feb_2026_crash_reaches_telegram_and_discord_exactly_once_through_a_429_flood(
    crash_alerts: list[Alert], metrics: Metrics
) -> None:
    """Both servers answer 429 for three seconds, one second per retry_after, then accept."""
    await _deliver_crash(crash_alerts, metrics, flood_s=3.0, step_s=1.0)


async def test_a_split_telegram_message_resumes_after_a_429_without_repeating_a_part(metrics: Metrics) -> None:
    api = FakeTelegram(TOKEN, per_chat_per_s=20)
    alert = make_alert(1, summary=" ".join(f"venue-{i} lost ${i}.5M (longs)." for i in range(700)))
    parts = render(alert)
    assert len(parts) >= 3
    flood_wait = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
    answered = 0

    def second_part_hits_a_flood_wait(request: Request) -> Reply:
        nonlocal answered
        answered += 1
        if answered == 2:
            return Reply(429, orjson.dumps(flood_wait | {"parameters": {"retry_after": 1}}))
        return api(request)

    async with HttpReceiver(second_part_hits_a_flood_wait) as tg:
        bus = MemoryBus(metrics=metrics)
        policy = SinkPolicy(20, 1, RetrySettings(initial_s=0.05, max_s=2, give_up_after_s=30), 300)
        settings = AlertSettings(console=False, block_ms=50)
        dispatcher = Dispatcher(settings, bus, metrics, consumer="t", sinks=[(_telegram(tg.url), policy)])
        async with dispatching(dispatcher):
            await bus.publish_alert(alert)
            await dispatcher.wait_acked(1, timeout=15)
    assert answered == len(parts) + 1  # one retry, of the refused part only
    assert [m["text"] for m in api.accepted] == parts  # each part once, in order


async def test_telegram_falls_back_to_plain_text_when_formatting_is_refused() -> None:
    api = FakeTelegram(TOKEN, per_chat_per_s=100)
    api.fail_next = [
        Reply(
            400, orjson.dumps({"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities: x"})
        )
    ]
    async with HttpReceiver(api) as tg:
        sink = _telegram(tg.url)
        await sink.send(make_alert(1))
        await sink.aclose()
    [message] = api.accepted
    assert "parse_mode" not in message
    assert message["text"] == plain(render(make_alert(1))[0])


async def test_refused_credentials_break_each_sink_with_a_message_saying_so(metrics: Metrics) -> None:
    async with HttpReceiver(FakeTelegram(TOKEN)) as tg, HttpReceiver(FakeDiscord(WEBHOOK)) as dc:
        sinks = [
            (_telegram(tg.url, token="123456:wrong"), SinkPolicy(100, 10, RETRY, 300)),
            (_discord(dc.url, hook="1122/wrong"), SinkPolicy(100, 10, RETRY, 300)),
        ]
        bus = MemoryBus(metrics=metrics)
        dispatcher = Dispatcher(AlertSettings(console=False, block_ms=50), bus, metrics, consumer="t", sinks=sinks)
        async with dispatching(dispatcher):
            for n in range(3):
                await bus.publish_alert(make_alert(n))
            await dispatcher.wait_acked(3, timeout=10)
        assert len(tg.requests) == 1  # broken after the first refusal: no retries
        assert len(dc.requests) == 1
    reasons = {sink: reason for _, sink, reason in bus.dead_letters}
    assert reasons["telegram"].startswith("sink broken: telegram: authentication refused (HTTP 401")
    assert "LIQMON_ALERTS__TELEGRAM__BOT_TOKEN" in reasons["telegram"]
    assert reasons["discord"].startswith("sink broken: discord: authentication refused (HTTP 401")
    assert "LIQMON_ALERTS__DISCORD__WEBHOOK_URL" in reasons["discord"]
    assert TOKEN.split(":")[1] not in str(bus.dead_letters)
    for sink in ("telegram", "discord"):
        assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": sink}) == 0


async def test_discord_waits_for_its_bucket_instead_of_hitting_429() -> None:
    api = FakeDiscord(WEBHOOK, limit=2, per_s=0.4)
    async with HttpReceiver(api) as dc:
        sink = _discord(dc.url)
        for n in range(6):
            await sink.send(make_alert(n))
        await sink.aclose()
    assert [discord_id(p) for p in api.accepted] == [f"alert-{n}" for n in range(6)]
    assert api.early == 0  # never sent while the bucket said Remaining: 0


async def test_alert_test_says_when_the_credentials_are_refused() -> None:
    async with HttpReceiver(FakeTelegram(TOKEN)) as tg, HttpReceiver(FakeDiscord(WEBHOOK)) as dc:
        results = await send_test_alert([_telegram(tg.url, token="123456:nope"), _discord(dc.url, hook="1/nope")])
    for result in results:
        assert not result.ok
        assert result.detail.startswith(f"PermanentDelivery: {result.sink}: authentication refused (HTTP 401")
