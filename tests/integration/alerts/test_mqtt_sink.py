"""MQTT sink against a real mosquitto: QoS 1 alerts, retained state, birth/will, broker outage."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import orjson
import pytest

from monitor.alerts.config import AlertSettings, MqttSettings, RetrySettings
from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.mqtt import MqttSink
from monitor.alerts.selftest import make_test_alert, send_test_alert
from monitor.alerts.worker import SinkPolicy
from monitor.bus.memory import MemoryBus
from monitor.metrics import Metrics
from tests.support.services import MosquittoServer, running_mosquitto
from tests.unit.alerts.helpers import make_alert

pytestmark = pytest.mark.integration

QUICK = RetrySettings(initial_s=0.05, factor=2.0, max_s=0.3, give_up_after_s=60)


async def collect(
    port: int, topics: list[str], until: set[str], *, ready: asyncio.Event | None = None, timeout: float = 15
) -> dict[str, tuple[bytes, bool]]:
    """Subscribe and gather the last (payload, retain flag) per topic until every topic in ``until`` was seen."""
    seen: dict[str, tuple[bytes, bool]] = {}
    async with asyncio.timeout(timeout), aiomqtt.Client("127.0.0.1", port) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)
        if ready is not None:
            ready.set()
        async for message in client.messages:
            seen[str(message.topic)] = (bytes(message.payload), bool(message.retain))  # type: ignore[arg-type]
            if until <= seen.keys():
                return seen
    return seen


@asynccontextmanager
async def dispatching(dispatcher: Dispatcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await task


async def test_alerts_state_and_status_then_an_outage_is_bridged(
    mosquitto_server: MosquittoServer, metrics: Metrics
) -> None:
    port = mosquitto_server.port
    settings = MqttSettings(
        port=port, client_id="liqmon-test", publish_timeout_s=1.0, reconnect_initial_s=0.05, reconnect_max_s=0.3
    )
    sink = MqttSink(settings)
    bus = MemoryBus(metrics=metrics)
    dispatcher = Dispatcher(
        AlertSettings(console=False, block_ms=100),
        bus,
        metrics,
        consumer="t",
        sinks=[(sink, SinkPolicy(100, 100, QUICK, 300))],
    )
    first = make_alert(1)
    async with dispatching(dispatcher):
        subscribed = asyncio.Event()
        live = asyncio.create_task(
            collect(
                port,
                ["liqmon/alerts/#", "liqmon/status"],
                {"liqmon/alerts/liquidation_cascade/BTC", "liqmon/status"},
                ready=subscribed,
            )
        )
        await subscribed.wait()
        await bus.publish_alert(first)
        seen = await live
        assert seen["liqmon/status"][0] == b"online"
        assert orjson.loads(seen["liqmon/alerts/liquidation_cascade/BTC"][0])["id"] == "alert-1"
        # A late subscriber gets the retained current state.
        state = await collect(port, ["liqmon/state/#"], {"liqmon/state/liquidation_cascade/BTC/long"})
        payload, retained = state["liqmon/state/liquidation_cascade/BTC/long"]
        assert retained
        assert orjson.loads(payload)["id"] == "alert-1"

        # Broker down: alerts raised meanwhile wait, and arrive once it is back on the same port.
        mosquitto_server.stop()
        await bus.publish_alert(make_alert(2, base="ETH"))
        await bus.publish_alert(make_alert(3, base="SOL", status="resolved"))
        mosquitto_server.start()
        state = await collect(
            port,
            ["liqmon/state/#", "liqmon/status"],
            {"liqmon/state/liquidation_cascade/ETH/long", "liqmon/state/liquidation_cascade/SOL/long", "liqmon/status"},
        )
        assert orjson.loads(state["liqmon/state/liquidation_cascade/ETH/long"][0])["id"] == "alert-2"
        assert orjson.loads(state["liqmon/state/liquidation_cascade/SOL/long"][0])["status"] == "resolved"
        await dispatcher.wait_acked(3, timeout=15)
    assert sink.connections >= 2
    assert (
        metrics.registry.get_sample_value("liqmon_alerts_delivered_total", {"sink": "mqtt", "outcome": "delivered"})
        == 3
    )
    # Clean stop: the sink says offline (retained).
    final = await collect(port, ["liqmon/status"], {"liqmon/status"})
    assert final["liqmon/status"] == (b"offline", True)


async def test_last_will_marks_the_sink_offline_when_it_vanishes(mosquitto_server: MosquittoServer) -> None:
    port = mosquitto_server.port
    # A long reconnect delay, so the retained status stays at the will's "offline" while the test looks.
    settings = MqttSettings(
        port=port, client_id="liqmon-will", keepalive_s=1, reconnect_initial_s=60, reconnect_max_s=60
    )
    sink = MqttSink(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    await sink.send(make_alert(1))  # waits for the connection
    client = sink._client
    assert client is not None
    client._client.socket().shutdown(socket.SHUT_RDWR)  # drop TCP without DISCONNECT: the broker sends the will
    async with asyncio.timeout(10), aiomqtt.Client("127.0.0.1", port) as watcher:
        await watcher.subscribe("liqmon/status", qos=1)
        async for message in watcher.messages:  # "online" first if the broker has not noticed yet
            if message.payload == b"offline":
                break
    stop.set()
    async with asyncio.timeout(10):
        await task


async def retained(port: int, pattern: str) -> dict[str, bytes]:
    """Every retained message under ``pattern`` now (a marker published after subscribing ends the read)."""
    marker = "liqmon-test/marker"
    found: dict[str, bytes] = {}
    async with asyncio.timeout(10), aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(pattern, qos=1)
        await client.subscribe(marker, qos=1)
        await client.publish(marker, b"end", qos=1)  # the broker sends it after the retained ones
        async for message in client.messages:
            if str(message.topic) == marker:
                return found
            if message.retain:
                found[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
    return found


async def test_long_and_short_keep_separate_retained_state(mosquitto_server: MosquittoServer) -> None:
    port = mosquitto_server.port
    sink = MqttSink(MqttSettings(port=port, client_id="liqmon-dir", publish_timeout_s=5))
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    await sink.send(make_alert(1, direction="long"))
    await sink.send(make_alert(2, direction="short"))
    state = await retained(port, "liqmon/state/#")
    assert {topic: orjson.loads(body)["id"] for topic, body in state.items()} == {
        "liqmon/state/liquidation_cascade/BTC/long": "alert-1",
        "liqmon/state/liquidation_cascade/BTC/short": "alert-2",
    }
    stop.set()
    await task


async def test_alert_test_leaves_no_retained_test_state(mosquitto_server: MosquittoServer) -> None:
    port = mosquitto_server.port
    alert = make_test_alert()
    [result] = await send_test_alert([MqttSink(MqttSettings(port=port, client_id="liqmon-selftest"))], alert=alert)
    assert (result.sink, result.ok) == ("mqtt", True)
    # The test alert went out on the events topic and its retained state was deleted again.
    assert await retained(port, "liqmon/state/#") == {}


async def test_a_broker_refusing_our_credentials_breaks_the_sink_at_once(tmp_path: Path, metrics: Metrics) -> None:
    with running_mosquitto(tmp_path / "closed", anonymous=False) as broker:
        settings = MqttSettings(port=broker.port, client_id="liqmon-denied", publish_timeout_s=30)
        sink = MqttSink(settings)
        bus = MemoryBus(metrics=metrics)
        dispatcher = Dispatcher(
            AlertSettings(console=False, block_ms=100),
            bus,
            metrics,
            consumer="t",
            sinks=[(sink, SinkPolicy(100, 100, QUICK, 300))],
        )
        async with dispatching(dispatcher):
            await bus.publish_alert(make_alert(1))
            await bus.publish_alert(make_alert(2, base="ETH"))
            await dispatcher.wait_acked(2, timeout=10)  # well inside the 30 s publish timeout: no waiting
        reasons = [r for _, _, r in bus.dead_letters]
        assert len(reasons) == 2
        assert "refused our credentials" in reasons[0]
        assert "alerts.mqtt.username" in reasons[0]
        assert metrics.registry.get_sample_value("liqmon_sink_healthy", {"sink": "mqtt"}) == 0

        [result] = await send_test_alert([MqttSink(settings)], timeout=20)
        assert not result.ok
        assert result.detail.startswith("PermanentDelivery: mqtt: broker 127.0.0.1:")
        assert "refused our credentials" in result.detail
