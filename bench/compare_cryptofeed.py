"""Normalization throughput, liqmon's venue parsers against cryptofeed 2.4.1's message handlers, same frames.

Frame sets are built from the shapes in ``shared/venues/samples`` with varied
numbers and the symbols of the instrument fixtures (so both libraries know
every instrument): Binance ``forceOrder`` and ``markPrice@1s`` (per symbol, as
cryptofeed subscribes; liqmon's ``!markPrice@arr`` all-market frames are shown
on their own line), Bybit ``liquidation`` and ``tickers`` (snapshot +
deltas), OKX ``funding-rate`` and ``open-interest``. Sets cryptofeed has no
handler for are parsed by liqmon only and marked so.

cryptofeed runs in its own virtual environment, ``bench/.venv-cryptofeed``
(created with ``pip install cryptofeed==2.4.1`` on first run), in a
subprocess: see ``bench/cryptofeed_handlers.py``. liqmon is measured in this
process on the very same files, in the same run. Both are measured
``--rounds`` times, alternately, and each set keeps its best round per
library: on a shared machine the best round is the one least disturbed.

Run: ``.venv/bin/python bench/compare_cryptofeed.py [--frames 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from common import ROOT, SAMPLES, machine
from parse import load_book

from monitor.errors import ParseError
from monitor.venues.registry import create_adapter

VENV = ROOT / "bench" / ".venv-cryptofeed"
CF_PYTHON = VENV / "bin" / "python"
FIXTURES = ROOT / "tests" / "fixtures" / "instruments"
RECV_MS = 1_770_249_600_000
SYMBOLS = {
    "binance": (["BTCUSDT", "ETHUSDT"], ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
    "bybit": (["BTCUSDT", "ROSEUSDT", "GALAUSDT"], ["BTC-USDT-PERP", "ROSE-USDT-PERP", "GALA-USDT-PERP"]),
    "okx": (["BTC-USDT-SWAP", "ETH-USDT-SWAP"], ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
}


def ensure_venv() -> None:
    """Create bench/.venv-cryptofeed with cryptofeed 2.4.1 unless it already has it."""
    probe = [str(CF_PYTHON), "-c", "import cryptofeed"]
    if CF_PYTHON.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return
    print("creating bench/.venv-cryptofeed (pip install cryptofeed==2.4.1) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "cryptofeed==2.4.1"], check=True)


def sample(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (SAMPLES / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def num(rng: random.Random, value: str) -> str:
    return f"{float(value) * rng.uniform(0.9, 1.1):.6g}"


def binance_force(rng: random.Random, n: int) -> list[str]:
    docs = sample("binance_forceOrder")
    out = []
    for i in range(n):
        doc = json.loads(json.dumps(docs[i % len(docs)]))
        sym = SYMBOLS["binance"][0][i % 2]
        doc["o"].update(s=sym, q=num(rng, doc["o"]["q"]), p=num(rng, doc["o"]["p"]), ap=num(rng, doc["o"]["ap"]))
        doc["E"] = doc["o"]["T"] = RECV_MS + i
        out.append(orjson.dumps({"stream": f"{sym.lower()}@forceOrder", "data": doc}).decode())
    return out


def binance_mark_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    row = sample("binance_markPrice")[0]
    rows = []
    for i in range(n):
        sym = SYMBOLS["binance"][0][i % 2]
        rows.append(dict(row, s=sym, E=RECV_MS + i, p=num(rng, row["p"]), r=num(rng, row["r"]), i=num(rng, row["i"])))
    return rows


def binance_mark(rows: list[dict[str, Any]]) -> list[str]:
    return [orjson.dumps({"stream": f"{r['s'].lower()}@markPrice@1s", "data": r}).decode() for r in rows]


def binance_mark_arr(rows: list[dict[str, Any]], width: int = 300) -> list[str]:
    return [
        orjson.dumps({"stream": "!markPrice@arr@1s", "data": rows[i : i + width]}).decode()
        for i in range(0, len(rows), width)
    ]


def bybit_liquidation(rng: random.Random, n: int) -> list[str]:
    doc = sample("bybit_liquidation")[0]
    out = []
    for i in range(n):
        sym = SYMBOLS["bybit"][0][i % 3]
        data = dict(doc["data"], symbol=sym, size=num(rng, doc["data"]["size"]), price=num(rng, doc["data"]["price"]))
        data["updatedTime"] = RECV_MS + i
        out.append(orjson.dumps(dict(doc, topic=f"liquidation.{sym}", ts=RECV_MS + i, data=data)).decode())
    return out


def bybit_tickers(rng: random.Random, n: int) -> list[str]:
    snap = sample("bybit_tickers")[0]
    out = []
    for i in range(n):
        sym = SYMBOLS["bybit"][0][i % 3]
        if i < 3:
            data = dict(snap["data"], symbol=sym)
            out.append(orjson.dumps(dict(snap, topic=f"tickers.{sym}", data=data, ts=RECV_MS + i)).decode())
            continue
        data = {
            "symbol": sym,
            "markPrice": num(rng, snap["data"]["markPrice"]),
            "openInterest": num(rng, snap["data"]["openInterest"]),
            "openInterestValue": num(rng, snap["data"]["openInterestValue"]),
            "fundingRate": num(rng, snap["data"]["fundingRate"]),
            "bid1Price": num(rng, snap["data"]["bid1Price"]),
        }
        frame = {"topic": f"tickers.{sym}", "type": "delta", "data": data, "cs": i, "ts": RECV_MS + i}
        out.append(orjson.dumps(frame).decode())
    return out


def okx_funding(rng: random.Random, n: int) -> list[str]:
    doc = sample("okx_funding-rate")[0]
    out = []
    for i in range(n):
        inst = SYMBOLS["okx"][0][i % 2]
        row = dict(
            doc["data"][0], instId=inst, fundingRate=num(rng, doc["data"][0]["fundingRate"]), ts=str(RECV_MS + i)
        )
        out.append(orjson.dumps({"arg": {"channel": "funding-rate", "instId": inst}, "data": [row]}).decode())
    return out


def okx_oi(rng: random.Random, n: int) -> list[str]:
    doc = sample("okx_open-interest")[0]
    out = []
    for i in range(n):
        inst = SYMBOLS["okx"][0][i % 2]
        base = doc["data"][0]
        row = dict(base, instId=inst, oi=num(rng, base["oi"]), oiCcy=num(rng, base["oiCcy"]), ts=str(RECV_MS + i))
        row["oiUsd"] = num(rng, base["oiUsd"])
        out.append(orjson.dumps({"arg": {"channel": "open-interest", "instId": inst}, "data": [row]}).decode())
    return out


def okx_liquidations(rng: random.Random, n: int) -> list[str]:
    doc = sample("okx_liquidation-orders")[0]
    out = []
    for i in range(n):
        inst = SYMBOLS["okx"][0][i % 2]
        detail = dict(doc["data"][0]["details"][0], bkPx=num(rng, "60000"), sz=str(rng.randint(1, 50)))
        detail["ts"] = str(RECV_MS + i)
        row = dict(doc["data"][0], instId=inst, instFamily=inst[:-5], uly=inst[:-5], details=[detail])
        out.append(orjson.dumps(dict(doc, data=[row])).decode())
    return out


def liqmon_pass(venue: str, frames: list[str]) -> tuple[int, int, float]:
    """(events, errors, seconds) for liqmon's parser over ``frames``."""
    adapter = create_adapter(venue)
    load_book(adapter)
    events = errors = 0
    parse = adapter.parse
    started = time.perf_counter()
    for frame in frames:
        try:
            events += len(parse(frame, RECV_MS))
        except ParseError:
            errors += 1
    seconds = time.perf_counter() - started
    adapter.drain_issues()
    return events, errors, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="frames per set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="alternate measurements; the best per set is kept")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = args.frames
    rows = binance_mark_rows(rng, n)
    # (name, venue, frames, cryptofeed has a handler)
    sets = [
        ("binance forceOrder", "binance", binance_force(rng, n), True),
        ("binance markPrice@1s", "binance", binance_mark(rows), True),
        ("bybit liquidation", "bybit", bybit_liquidation(rng, n), True),
        ("bybit tickers", "bybit", bybit_tickers(rng, n), True),
        ("okx funding-rate", "okx", okx_funding(rng, n), True),
        ("okx open-interest", "okx", okx_oi(rng, n), True),
        ("binance !markPrice@arr ×300", "binance", binance_mark_arr(rows), False),
        ("okx liquidation-orders", "okx", okx_liquidations(rng, n), False),
    ]
    ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:
        manifest: dict[str, Any] = {
            "fixtures": str(FIXTURES),
            "symbols": {venue: std for venue, (_, std) in SYMBOLS.items()},
            "sets": [],
        }
        for index, (name, venue, frames, supported) in enumerate(sets):
            path = Path(tmp) / f"set{index}.txt"
            path.write_text("\n".join(frames) + "\n")
            if supported:
                manifest["sets"].append({"name": name, "venue": venue, "frames": str(path)})
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest))
        handlers = ROOT / "bench" / "cryptofeed_handlers.py"
        by_name: dict[str, dict[str, Any]] = {}
        ours: dict[str, tuple[int, int, float]] = {}
        for _ in range(max(1, args.rounds)):
            cf_out = subprocess.run(
                [str(CF_PYTHON), str(handlers), str(Path(tmp) / "manifest.json")],
                capture_output=True,
                text=True,
                check=True,
            )
            cf = json.loads(cf_out.stdout.strip().splitlines()[-1])
            for result in cf["results"]:
                best = by_name.get(result["name"])
                if best is None or result["seconds"] < best["seconds"]:
                    by_name[result["name"]] = result
            for name, venue, frames, _ in sets:
                measured = liqmon_pass(venue, frames)
                if name not in ours or measured[2] < ours[name][2]:
                    ours[name] = measured

    print(
        f"machine: {machine()}; cryptofeed {cf['version']} (subprocess, own venv); {n} frames per set; "
        f"best of {max(1, args.rounds)} alternating rounds"
    )
    head = (
        f"{'set':<30}{'lib':<11}{'frames/s':>11}{'events/s':>11}{'events':>8}{'errors':>8}"
        f"{'ratio frames/s':>16}{'ratio events/s':>16}"
    )
    print(head)
    print("-" * len(head))
    totals = {"liqmon": [0, 0, 0.0], "cryptofeed": [0, 0, 0.0]}
    for name, _, frames, supported in sets:
        events, errors, seconds = ours[name]
        lq_fps, lq_eps = len(frames) / seconds, events / seconds
        print(f"{name:<30}{'liqmon':<11}{lq_fps:>11,.0f}{lq_eps:>11,.0f}{events:>8}{errors:>8}")
        if not supported:
            print(f"{'':<30}{'cryptofeed':<11}{'no handler for this channel (see RESULTS.md)':>50}")
            continue
        r = by_name[name]
        cf_fps, cf_eps = r["frames"] / r["seconds"], r["events"] / r["seconds"] if r["events"] else 0.0
        ratio_e = f"{lq_eps / cf_eps:>15.1f}x" if cf_eps else f"{'n/a':>16}"
        print(
            f"{'':<30}{'cryptofeed':<11}{cf_fps:>11,.0f}{cf_eps:>11,.0f}{r['events']:>8}{r['errors']:>8}"
            f"{lq_fps / cf_fps:>15.1f}x{ratio_e}"
        )
        for lib, (ev, fr, s) in (
            ("liqmon", (events, len(frames), seconds)),
            ("cryptofeed", (r["events"], r["frames"], r["seconds"])),
        ):
            totals[lib][0] += fr
            totals[lib][1] += ev
            totals[lib][2] += s
    lq, cfx = totals["liqmon"], totals["cryptofeed"]
    print("-" * len(head))
    print(
        f"{'ALL comparable sets':<30}{'liqmon':<11}{lq[0] / lq[2]:>11,.0f}{lq[1] / lq[2]:>11,.0f}\n"
        f"{'':<30}{'cryptofeed':<11}{cfx[0] / cfx[2]:>11,.0f}{cfx[1] / cfx[2]:>11,.0f}"
        f"{(lq[0] / lq[2]) / (cfx[0] / cfx[2]):>15.1f}x{(lq[1] / lq[2]) / (cfx[1] / cfx[2]):>15.1f}x"
    )


if __name__ == "__main__":
    main()
