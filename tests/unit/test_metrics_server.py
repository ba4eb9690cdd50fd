"""The metrics endpoint, exercised with real HTTP requests over 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from monitor.events import Liquidation
from monitor.metrics import Metrics
from monitor.metrics_server import MAX_HEAD_BYTES, MetricsServer, parse_head
from monitor.settings import MetricsSettings

Checks = Callable[[], Awaitable[dict[str, bool]]]


def ready(**checks: bool) -> Checks:
    async def readiness() -> dict[str, bool]:
        return dict(checks)

    return readiness


@asynccontextmanager
async def serving(metrics: Metrics, readiness: Checks | None = None, **kwargs: float) -> AsyncIterator[MetricsServer]:
    server = MetricsServer(
        MetricsSettings(host="127.0.0.1", port=0), metrics, readiness or ready(feeds=True, bus=True), **kwargs
    )
    stop = asyncio.Event()
    await server.start()
    task = asyncio.create_task(server.run(stop))
    try:
        yield server
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def get(server: MetricsServer, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
        return await client.get(path, headers=headers)


async def raw(server: MetricsServer, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return data


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition`` holds; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - server-side state has no event to await; bounded above
            await asyncio.sleep(0.001)


async def test_port_zero_binds_a_real_port(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        assert server.port > 0
        assert (await get(server, "/healthz")).status_code == 200


async def test_metrics_exposes_the_catalogue_in_text_format(metrics: Metrics) -> None:
    metrics.observe_events(
        [
            Liquidation(
                id="l1",
                venue="binance",
                symbol="BTCUSDT",
                base="BTC",
                quote="USDT",
                contract="linear",
                ts_ms=1,
                recv_ms=1,
                side="long",
                price=62_500.0,
                qty_base=20.0,
                notional_usd=1_250_000.0,
            )
        ]
    )
    metrics.message_received("bybit", "liquidation")
    async with serving(metrics) as server:
        response = await get(server, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["connection"] == "close"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    key = ("liqmon_liquidated_notional_usd_total", (("base", "BTC"), ("side", "long"), ("venue", "binance")))
    assert samples[key] == 1_250_000.0
    # Scrape-time callbacks ran for this request.
    assert ("liqmon_feed_seconds_since_last_message", (("venue", "bybit"),)) in samples


async def test_scrape_time_callbacks_run_on_every_scrape(metrics: Metrics) -> None:
    calls: list[int] = []

    def callback() -> Iterator[Metric]:
        calls.append(1)
        family = GaugeMetricFamily("liqmon_test_scrapes", "Scrapes seen (count).")
        family.add_metric([], len(calls))
        yield family

    metrics.add_scrape_callback(callback)
    async with serving(metrics) as server:
        await get(server, "/metrics")
        second = await get(server, "/metrics")
    assert "liqmon_test_scrapes 2.0" in second.text


async def test_openmetrics_when_the_scraper_asks(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        response = await get(server, "/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_a_failing_scrape_callback_gives_500_and_the_server_keeps_serving(metrics: Metrics) -> None:
    def broken() -> Iterator[Metric]:
        raise RuntimeError("redis went away")

    metrics.add_scrape_callback(broken)
    async with serving(metrics) as server:
        failed = await get(server, "/metrics")
        metrics.remove_scrape_callback(broken)
        recovered = await get(server, "/metrics")
    assert failed.status_code == 500
    assert "redis went away" in failed.text
    assert recovered.status_code == 200


async def test_readyz_is_200_when_every_check_passes(metrics: Metrics) -> None:
    async with serving(metrics, ready(feeds=True, bus=True)) as server:
        response = await get(server, "/readyz")
    assert response.status_code == 200
    assert orjson.loads(response.content) == {"feeds": True, "bus": True}


async def test_readyz_is_503_with_the_checks_when_one_fails(metrics: Metrics) -> None:
    async with serving(metrics, ready(feeds=True, bus=False)) as server:
        response = await get(server, "/readyz")
        health = await get(server, "/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content) == {"feeds": True, "bus": False}
    assert health.status_code == 200  # alive, just not ready


async def test_readyz_is_503_when_the_check_itself_raises(metrics: Metrics) -> None:
    async def broken() -> dict[str, bool]:
        raise ConnectionError("redis down")

    async with serving(metrics, broken) as server:
        response = await get(server, "/readyz")
    assert response.status_code == 503
    assert orjson.loads(response.content) == {"readiness_checks": False}


async def test_readiness_follows_the_state_it_reads(metrics: Metrics) -> None:
    state = {"feeds": False}

    async def readiness() -> dict[str, bool]:
        return dict(state)

    async with serving(metrics, readiness) as server:
        before = await get(server, "/readyz")
        state["feeds"] = True
        after = await get(server, "/readyz")
    assert (before.status_code, after.status_code) == (503, 200)


async def test_unknown_path_is_404_and_other_methods_405(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        missing = await get(server, "/nope")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
            post = await client.post("/metrics", content=b"x")
            head = await client.head("/metrics")
    assert missing.status_code == 404
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0


async def test_query_string_is_ignored(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        assert (await get(server, "/healthz?probe=1")).status_code == 200


async def test_malformed_request_line_is_400(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        reply = await raw(server, b"HELLO\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_oversized_request_head_is_431(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        reply = await raw(server, b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * (MAX_HEAD_BYTES * 2) + b"\r\n\r\n")
        still_up = await get(server, "/healthz")
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert still_up.status_code == 200


async def test_a_client_that_never_finishes_its_request_times_out(metrics: Metrics) -> None:
    async with serving(metrics, head_timeout_s=0.2) as server:
        reply = await raw(server, b"GET /metrics HTTP/1.1\r\n")
        served = await get(server, "/healthz")
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert served.status_code == 200


async def test_a_client_that_hangs_up_early_does_not_hurt(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /met")
        writer.close()
        await writer.wait_closed()
        assert (await get(server, "/healthz")).status_code == 200


async def test_over_the_limit_the_longest_waiting_connection_makes_room(metrics: Metrics) -> None:
    with capture_logs() as logs:
        async with serving(metrics, max_connections=2) as server:
            # Two connections that never send a request: the first is the one waiting longest.
            first_reader, first = await asyncio.open_connection("127.0.0.1", server.port)
            await until(lambda: server.connections == 1)
            second_reader, second = await asyncio.open_connection("127.0.0.1", server.port)
            await until(lambda: server.connections == 2)
            probe = await get(server, "/healthz")
            assert await asyncio.wait_for(first_reader.read(), 5) == b""  # closed to make room
            assert server.connections == 1  # the second still waits for its request
            second.write(b"GET /readyz HTTP/1.1\r\n\r\n")
            reply = await asyncio.wait_for(second_reader.read(), 5)
            for writer in (first, second):
                writer.close()
    assert probe.status_code == 200
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert metrics.registry.get_sample_value("liqmon_metrics_clients_closed_total") == 1
    full = [entry for entry in logs if entry["event"] == "metrics_endpoint_full"]
    assert [(entry["closed"], entry["max_connections"]) for entry in full] == [(1, 2)]


async def test_503_only_when_every_connection_is_being_answered(metrics: Metrics) -> None:
    release = asyncio.Event()

    async def slow_readiness() -> dict[str, bool]:
        await release.wait()
        return {"bus": True}

    async with serving(metrics, slow_readiness, max_connections=1) as server:
        answering = asyncio.create_task(get(server, "/readyz"))
        await until(lambda: server.connections == 1 and not server.waiting)
        extra = await get(server, "/healthz")
        release.set()
        answered = await answering
    assert extra.status_code == 503
    assert answered.status_code == 200


async def test_close_ends_open_connections_and_frees_the_port(metrics: Metrics) -> None:
    server = MetricsServer(MetricsSettings(host="127.0.0.1", port=0), metrics, ready())
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    await until(lambda: server.started)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    await server.close()  # idempotent


async def test_a_busy_port_names_the_setting_to_change(metrics: Metrics) -> None:
    async with serving(metrics) as first:
        second = MetricsServer(MetricsSettings(host="127.0.0.1", port=first.port), metrics, ready())
        with pytest.raises(OSError, match=r"metrics\.port"):
            await second.start()


@pytest.mark.parametrize(
    ("head", "method", "path", "accept"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x", "GET", "/metrics", ""),
        (b"GET /metrics?x=1 HTTP/1.0\r\nACCEPT:  text/plain ", "GET", "/metrics", "text/plain"),
        (b"HEAD /readyz HTTP/1.1", "HEAD", "/readyz", ""),
    ],
)
def test_parse_head(head: bytes, method: str, path: str, accept: str) -> None:
    request = parse_head(head)
    assert (request.method, request.path, request.accept) == (method, path, accept)


async def test_state_and_alerts_are_served_when_the_process_has_a_state(metrics: Metrics) -> None:
    from monitor.settings import Settings
    from monitor.top.live import LiveState
    from monitor.top.state import decode_alerts, decode_snapshot
    from tests.unit.top.builders import alert

    state = LiveState(Settings(), metrics, collects=True, label="here")
    state.on_alert(alert("firing"))
    async with serving(metrics, state=state) as server:  # type: ignore[arg-type]
        snapshot = decode_snapshot((await get(server, "/state")).content)
        assert snapshot.label == "here"
        assert [a.status for a in snapshot.active] == ["firing"]
        recent = await get(server, f"/alerts?since_ms={state.started_ms}")
        assert recent.status_code == 200
        assert [a.id for a in decode_alerts(recent.content)] == [alert("firing").id]
        later = await get(server, "/alerts?since_ms=99999999999999")
        assert decode_alerts(later.content) == []
        bad = await get(server, "/alerts?since_ms=yesterday")
        assert bad.status_code == 400
        assert "since_ms must be epoch milliseconds" in bad.text


async def test_without_a_state_the_endpoint_has_no_state_routes(metrics: Metrics) -> None:
    async with serving(metrics) as server:
        assert (await get(server, "/state")).status_code == 404
