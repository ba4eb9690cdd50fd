"""RSS and CPU of the whole pipeline tracking ~1,500 instruments on Binance, Bybit and OKX at real cadences.

A worker process runs ``Application`` (all roles, embedded bus, console sink)
over a synthetic, real-time paced source (``CaptureSource`` at speed 1):
instrument lists with ``--binance``/``--bybit``/``--okx`` instruments (cloned
from the scenario's entries), then Binance ``!markPrice@arr@1s`` every second,
Bybit ``tickers`` deltas every 100 ms per symbol, OKX ``open-interest`` every
3 s per instrument, OKX ``funding-rate`` every 30-90 s per instrument and a
few liquidations per second. The frames are built in the worker (orjson), so
that cost is included. The parent samples the worker's RSS and CPU from /proc
once a second and reports peak RSS and mean CPU after a warm-up.

Run: ``.venv/bin/python bench/scale.py [--seconds 30]`` (``--seconds 120`` for a longer run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from common import PYTHON, machine, proc_stat


def templates(scenario: Path) -> dict[str, Any]:
    """First instrument lists and frames of each kind from a scenario capture."""
    from monitor.capture.format import read_capture

    want = {
        ("binance", "meta"): None,
        ("bybit", "meta"): None,
        ("okx", "meta"): None,
        ("binance", "markPrice"): None,
        ("binance", "forceOrder"): None,
        ("bybit", "delta"): None,
        ("okx", "open-interest"): None,
        ("okx", "funding-rate"): None,
    }
    for record in read_capture(scenario):
        if record.frame is None or record.rest is not None:
            continue
        if record.meta is not None:
            key = (record.venue, "meta")
            if key in want and want[key] is None and "category=inverse" not in record.meta:
                want[key] = (record.meta, orjson.loads(record.frame))
            continue
        for kind in ("markPrice", "forceOrder", "delta", "open-interest", "funding-rate"):
            key = (record.venue, kind)
            if key in want and want[key] is None and kind in record.frame:
                want[key] = orjson.loads(record.frame)
        if all(v is not None for v in want.values()):
            break
    missing = [k for k, v in want.items() if v is None]
    if missing:
        raise SystemExit(f"scenario capture lacks {missing}")
    return {f"{v}:{k}": val for (v, k), val in want.items()}


def clone(entry: dict[str, Any], base: str) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(entry).decode().replace("BTC", base))


def source(args: argparse.Namespace) -> Iterator[Any]:
    from monitor.capture.format import CaptureRecord

    t = templates(Path(args.scenario))
    rng = random.Random(5)
    bases = {
        v: [f"Q{v[0].upper()}{i}" for i in range(n)]
        for v, n in (("binance", args.binance), ("bybit", args.bybit), ("okx", args.okx))
    }
    now = int(time.time() * 1000)
    for venue in ("binance", "bybit", "okx"):
        path, body = t[f"{venue}:meta"]
        if venue == "binance":
            entry = body["symbols"][0]
            body = dict(body, symbols=[clone(entry, b) for b in bases[venue]])
        elif venue == "bybit":
            entry = body["result"]["list"][0]
            body = dict(body, result=dict(body["result"], list=[clone(entry, b) for b in bases[venue]]))
        else:
            entry = body["data"][0]
            body = dict(body, data=[clone(entry, b) for b in bases[venue]])
        yield CaptureRecord(recv_ms=now, venue=venue, meta=path, frame=orjson.dumps(body).decode())
    mark_row = t["binance:markPrice"]["data"]
    mark_row = mark_row[0] if isinstance(mark_row, list) else mark_row
    delta = t["bybit:delta"]
    oi = t["okx:open-interest"]
    funding = t["okx:funding-rate"]
    force = t["binance:forceOrder"]
    next_funding = {b: now + rng.randint(0, 90_000) for b in bases["okx"]}
    ticks = int(args.seconds * 10)
    for k in range(ticks):
        ts = now + k * 100
        if k % 10 == 0:
            rows = [dict(mark_row, s=f"{b}USDT", E=ts, p=f"{rng.uniform(90, 110):.4f}") for b in bases["binance"]]
            yield CaptureRecord(
                recv_ms=ts, venue="binance", frame=orjson.dumps({"stream": "!markPrice@arr@1s", "data": rows}).decode()
            )
        for b in bases["bybit"]:
            data = dict(delta["data"], symbol=f"{b}USDT", markPrice=f"{rng.uniform(90, 110):.2f}")
            yield CaptureRecord(
                recv_ms=ts,
                venue="bybit",
                frame=orjson.dumps(dict(delta, topic=f"tickers.{b}USDT", data=data, ts=ts)).decode(),
            )
        if k % 30 == 0:
            for b in bases["okx"]:
                row = dict(oi["data"][0], instId=f"{b}-USDT-SWAP", oi=f"{rng.uniform(1e5, 2e5):.1f}", ts=str(ts))
                yield CaptureRecord(
                    recv_ms=ts,
                    venue="okx",
                    frame=orjson.dumps(dict(oi, arg=dict(oi["arg"], instId=row["instId"]), data=[row])).decode(),
                )
        for b in bases["okx"]:
            if next_funding[b] <= ts:
                next_funding[b] = ts + rng.randint(30_000, 90_000)
                row = dict(funding["data"][0], instId=f"{b}-USDT-SWAP", ts=str(ts))
                yield CaptureRecord(
                    recv_ms=ts,
                    venue="okx",
                    frame=orjson.dumps(
                        dict(funding, arg=dict(funding["arg"], instId=row["instId"]), data=[row])
                    ).decode(),
                )
        if rng.random() < 0.3:
            b = rng.choice(bases["binance"])
            order = dict(force["data"]["o"], s=f"{b}USDT", T=ts)
            yield CaptureRecord(
                recv_ms=ts,
                venue="binance",
                frame=orjson.dumps(dict(force, data=dict(force["data"], E=ts, o=order))).decode(),
            )


async def work(args: argparse.Namespace) -> None:
    from prometheus_client import CollectorRegistry

    from monitor.app import Application
    from monitor.metrics import Metrics
    from monitor.settings import load_settings

    settings = load_settings(environ={}, overrides={"metrics.enabled": False})
    app = Application(
        settings, metrics=Metrics(CollectorRegistry()), source=source(args), speed=1.0, serve_metrics=False
    )
    with contextlib.redirect_stdout(io.StringIO()):
        await app.run(install_signals=False)
    replay = app.replay
    print(f"published {replay.published if replay else 0} events", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--binance", type=int, default=600, help="Binance USD-M symbols")
    parser.add_argument("--bybit", type=int, default=500, help="Bybit linear symbols")
    parser.add_argument("--okx", type=int, default=400, help="OKX swaps")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds left out of the CPU mean")
    parser.add_argument("--scenario", type=Path, help="scenario capture for templates (default: generate)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(work(args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.scenario is None:
            args.scenario = Path(tmp) / "crash.jsonl.gz"
            liqmon = Path(PYTHON).with_name("liqmon")
            subprocess.run(
                [str(liqmon), "scenario", "feb-2026-crash", "--out", str(args.scenario)],
                check=True,
                capture_output=True,
            )
        cmd = [str(PYTHON), __file__, "--worker", "--seconds", str(args.seconds), "--scenario", str(args.scenario)]
        cmd += ["--binance", str(args.binance), "--bybit", str(args.bybit), "--okx", str(args.okx)]
        started = time.monotonic()
        child = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, float, int]] = []
        while child.poll() is None:
            with contextlib.suppress(OSError, IndexError):
                cpu, rss = proc_stat(child.pid)
                samples.append((time.monotonic() - started, cpu, rss))
            time.sleep(1.0)
        err = child.stderr.read() if child.stderr else ""
    steady = [s for s in samples if s[0] >= args.warmup]
    instruments = args.binance + args.bybit + args.okx
    rate = args.bybit * 10 + 1 + args.okx / 3 + args.okx / 60 + 3
    print(f"machine: {machine()}")
    print(
        f"{instruments} instruments (binance {args.binance}, bybit {args.bybit}, okx {args.okx}), "
        f"{args.seconds:g} s, ≈{rate:,.0f} frames/s"
    )
    if len(steady) >= 2:
        cpu = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
        print(f"peak RSS            : {max(s[2] for s in samples) / 2**20:8.1f} MB")
        print(f"RSS at end          : {samples[-1][2] / 2**20:8.1f} MB")
        print(f"mean CPU after {args.warmup:g} s : {cpu:8.2f} cores (frame generation included)")
    else:
        print("worker ended too early to sample:\n" + err[-2000:])
    print(err.strip().splitlines()[-1] if err.strip() else "")


if __name__ == "__main__":
    main()
