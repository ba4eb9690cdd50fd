"""Alert delivery under sink faults: every chat service answering 429 for a full minute while MQTT restarts.

The real ``alert`` role (dispatcher and sinks built from settings) reads a
real Redis alerts stream; Slack, Telegram and Discord are local HTTP servers
speaking their APIs' shapes and rate limits, MQTT a real mosquitto watched by
a subscriber with a persistent session. Numbered alerts are published while
the faults are active; after recovery the checker wants each one delivered
exactly once to each sink, in order, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import orjson
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from monitor.app import Application
from monitor.bus.keys import ALERTS_GROUP, Keys
from monitor.bus.redis_streams import RedisStreamsBus
from monitor.metrics import Metrics
from monitor.settings import BusSettings, load_settings
from tests.chaos.checker import check_alerts
from tests.integration.alerts.chat_apis import FakeDiscord, FakeTelegram, discord_id, telegram_id
from tests.integration.alerts.http_receiver import HttpReceiver, Reply, Request
from tests.integration.test_redis_bus import wait_until
from tests.support.builders import alert
from tests.support.mosquitto_persistent import PersistentMosquitto
from tests.support.services import HOST, RedisServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

ALERTS = 20
RATE_LIMITED_S = 60.0  # Slack answers 429 this long, from its first request on
RETRY_AFTER_S = 5  # what Slack asks for; the last answers ask only for what is left of the minute
CHAT_RETRY_AFTER_S = 15.0  # what Telegram and Discord ask for during their minute of 429
CHAT_RATE_PER_S = 20.0  # the chat servers' limits, scaled up with the sinks' rates to keep the test short
TOKEN = "123456:ABC-chaos-token"
WEBHOOK = "2233/chaos-hook-token"
WATCHER = "liqmon-chaos-watcher"
DELIVERED = "liqmon_alerts_delivered_total"
KEYS = Keys()
_ALERT_ID = re.compile(r"id `([^`]+)`")


class Slack:
    """A Slack incoming webhook that rate-limits every post for ``RATE_LIMITED_S`` after the first one."""

    def __init__(self) -> None:
        self.until: float | None = None
        self.asked: dict[int, int] = {}  # id() of a rate-limited request -> the Retry-After it was given

    def __call__(self, request: Request) -> Reply:
        if self.until is None:
            self.until = request.at + RATE_LIMITED_S
        left = self.until - time.monotonic()
        if left > 0:
            wait = min(RETRY_AFTER_S, max(1, math.ceil(left)))
            self.asked[id(request)] = wait
            return Reply(429, b"rate_limited", {"Retry-After": str(wait)})
        return Reply(200, b"ok")


def slack_id(request: Request) -> str:
    """The alert id in a Slack message (its context line carries it)."""
    match = _ALERT_ID.search(orjson.loads(request.body)["blocks"][-1]["elements"][0]["text"])
    assert match is not None
    return match.group(1)


class Watcher:
    """An MQTT subscriber with a persistent session: what the broker queued while it was away comes later."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: list[str] = []
        self.sessions = 0

    @contextlib.asynccontextmanager
    async def online(self) -> AsyncIterator[None]:
        """Connected and subscribed (QoS 1) while inside; disconnects cleanly on exit."""
        async with aiomqtt.Client(HOST, self.port, identifier=WATCHER, clean_session=False) as client:
            await client.subscribe("liqmon/alerts/#", qos=1)
            self.sessions += 1
            reader = asyncio.create_task(self._read(client))
            try:
                yield
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            self.ids.append(str(orjson.loads(message.payload)["id"]))


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def alert_role(
    redis_url: str, *, slack_url: str, telegram_url: str, discord_url: str, mqtt_port: int, metrics: Metrics
) -> AsyncIterator[Application]:
    """liqmon's ``alert`` role in this loop, every sink configured; exit code 0 checked on the way out."""
    chat_retry = {"initial_s": 0.5, "max_s": 120.0, "give_up_after_s": 300.0}
    settings = load_settings(
        environ={
            "LIQMON_ALERTS__SLACK__WEBHOOK_URL": slack_url,
            "LIQMON_ALERTS__TELEGRAM__BOT_TOKEN": TOKEN,
            "LIQMON_ALERTS__DISCORD__WEBHOOK_URL": f"{discord_url}/api/webhooks/{WEBHOOK}",
        },
        overrides={
            "bus.redis_url": redis_url,
            "bus.block_ms": 200,
            "metrics.port": 0,
            "alerts.console": False,
            "alerts.block_ms": 200,
            "alerts.drain_timeout_s": 2.0,
            # Posting itself is not slowed down here: the minute of 429s is what is being tested.
            "alerts.slack.rate_per_s": 50.0,
            "alerts.slack.burst": 50,
            "alerts.slack.retry": {"initial_s": 0.5, "max_s": float(RETRY_AFTER_S), "give_up_after_s": 300.0},
            "alerts.telegram.chat_id": "-1001",
            "alerts.telegram.api_url": telegram_url,
            "alerts.telegram.rate_per_s": CHAT_RATE_PER_S,
            "alerts.telegram.retry": chat_retry,
            "alerts.discord.rate_per_s": CHAT_RATE_PER_S,
            "alerts.discord.retry": chat_retry,
            "alerts.mqtt.host": HOST,
            "alerts.mqtt.port": mqtt_port,
            "alerts.mqtt.client_id": "liqmon-chaos-sink",
            "alerts.mqtt.publish_timeout_s": 1.0,
            "alerts.mqtt.retry": {"initial_s": 0.2, "max_s": 1.0, "give_up_after_s": 300.0},
        },
    )
    app = Application(settings, roles={"alert"}, metrics=metrics)
    task = asyncio.create_task(app.run(install_signals=False))
    try:
        async with asyncio.timeout(15):
            await app.metrics_started.wait()
        yield app
        assert not task.done(), "the alert role stopped on its own"
    finally:
        app.request_stop()
        async with asyncio.timeout(30):
            code = await task
        assert code == 0


async def test_chat_429_for_a_minute_and_mqtt_restart_deliver_every_alert_once(
    redis_server: RedisServer, tmp_path: Path, metrics: Metrics
) -> None:
    broker = PersistentMosquitto(tmp_path / "mosquitto").start()
    watcher = Watcher(broker.port)
    slack = Slack()
    telegram = FakeTelegram(
        TOKEN, per_chat_per_s=CHAT_RATE_PER_S, flood_s=RATE_LIMITED_S, flood_step_s=CHAT_RETRY_AFTER_S
    )
    discord = FakeDiscord(
        WEBHOOK, limit=5, per_s=5 / CHAT_RATE_PER_S, flood_s=RATE_LIMITED_S, flood_step_s=CHAT_RETRY_AFTER_S
    )
    publisher = RedisStreamsBus(BusSettings(redis_url=redis_server.url), Metrics(CollectorRegistry()))
    raw = aioredis.Redis.from_url(redis_server.url)
    raised = [f"a{n}" for n in range(1, ALERTS + 1)]
    half = ALERTS // 2
    try:
        async with (
            HttpReceiver(slack) as rx,
            HttpReceiver(telegram) as tg,
            HttpReceiver(discord) as dc,
            alert_role(
                redis_server.url,
                slack_url=f"{rx.url}/services/T/B/x",
                telegram_url=tg.url,
                discord_url=dc.url,
                mqtt_port=broker.port,
                metrics=metrics,
            ),
        ):
            async with watcher.online():
                for n in range(1, half + 1):
                    await publisher.publish_alert(alert(n))
                await wait_until(lambda: len(watcher.ids) >= half, timeout=20)
                await rx.wait_for(lambda r: any(status == 429 for _, status, _ in r.answered), timeout=10)
            # The broker goes away (the watcher first, so none of its acknowledgements are in flight).
            broker.stop()
            outage_started = time.monotonic()
            for n in range(half + 1, ALERTS + 1):
                await publisher.publish_alert(alert(n))
            await wait_until(lambda: value(metrics, DELIVERED, sink="mqtt", outcome="retried") >= 1)
            broker.start()
            outage_s = time.monotonic() - outage_started
            async with watcher.online():
                await wait_until(lambda: len(watcher.ids) >= ALERTS, timeout=30)
                # MQTT did not wait for the chat services: all of it went out while they still refused the first alert.
                for chat in ("slack", "telegram", "discord"):
                    assert value(metrics, DELIVERED, sink=chat, outcome="delivered") == 0, chat
                assert slack.until is not None
                assert time.monotonic() < slack.until

                def all_delivered() -> bool:
                    return all(
                        value(metrics, DELIVERED, sink=s, outcome="delivered") >= ALERTS
                        for s in ("slack", "telegram", "discord", "mqtt")
                    )

                await wait_until(all_delivered, timeout=RATE_LIMITED_S + 30)

                async def acked() -> bool:
                    return int((await raw.xpending(KEYS.alerts, ALERTS_GROUP))["pending"]) == 0

                deadline = time.monotonic() + 15
                while not await acked():
                    assert time.monotonic() < deadline, "alert entries still pending after delivery"
                    await asyncio.sleep(0.05)
            answered = list(rx.answered)
        dead_letters = await raw.xlen(KEYS.dead_letters)
    finally:
        broker.stop()
        await publisher.close()
        await raw.aclose()

    slack_ok = [slack_id(req) for req, status, _ in answered if status == 200]
    telegram_ok = [telegram_id(m) for m in telegram.accepted]
    discord_ok = [discord_id(p) for p in discord.accepted]
    check_alerts(
        raised, {"slack": slack_ok, "telegram": telegram_ok, "discord": discord_ok, "mqtt": watcher.ids}
    ).assert_ok()
    for delivered in (slack_ok, telegram_ok, discord_ok, watcher.ids):
        assert delivered == raised  # one sink worker per sink here: queue order kept
    assert dead_letters == 0
    assert value(metrics, "liqmon_alerts_dead_lettered_total", sink="slack") == 0
    assert value(metrics, "liqmon_alerts_dead_lettered_total", sink="mqtt") == 0
    assert watcher.sessions == 2

    # Slack: only the head of the queue was tried during the minute, each retry after the Retry-After it was given.
    limited = [(req, at) for req, status, at in answered if status == 429]
    assert {slack_id(req) for req, _ in limited} == {"a1"}
    for (req, status, at), (nxt, _, _) in itertools.pairwise(answered):
        if status == 429:
            asked = slack.asked[id(req)]
            assert nxt.at - at >= asked - 0.01, (slack_id(req), nxt.at - at, asked)
    first_ok = next(at for _, status, at in answered if status == 200)
    assert slack.until is not None
    assert value(metrics, DELIVERED, sink="slack", outcome="retried") == len(limited)
    assert len(limited) >= 2  # the minute spanned several Retry-After rounds
    # Telegram and Discord: one request per retry_after round of the minute, none before its time.
    rounds = math.ceil(RATE_LIMITED_S / CHAT_RETRY_AFTER_S)
    for name, flood in (("telegram", telegram.flood), ("discord", discord.flood)):
        assert rounds <= flood.refused <= rounds + 1, (name, flood.refused)
        assert flood.ignored == 0, name
        assert value(metrics, "liqmon_alerts_dead_lettered_total", sink=name) == 0
    assert discord.early == 0  # the X-RateLimit bucket was obeyed once the minute was over
    assert value(metrics, DELIVERED, sink="discord", outcome="retried") == discord.flood.refused
    # Telegram's own per-chat limit may also refuse a message after the minute; each refusal is one retry.
    assert value(metrics, DELIVERED, sink="telegram", outcome="retried") == telegram.too_many
    mqtt_retries = value(metrics, DELIVERED, sink="mqtt", outcome="retried")
    print(
        f"alert sinks: {ALERTS} alerts, Slack, Telegram and Discord 429 for {RATE_LIMITED_S:.0f} s: "
        f"Slack {len(limited)} rate-limited attempts, Telegram {telegram.flood.refused}, "
        f"Discord {discord.flood.refused}; "
        f"first 200 {first_ok - slack.until:.2f} s after the minute, {len(slack_ok)} delivered once each; "
        f"MQTT broker down {outage_s:.2f} s, {mqtt_retries:.0f} retries, {len(watcher.ids)} delivered once each; "
        f"dead letters {dead_letters}"
    )
