"""cryptofeed's own message handlers over recorded frames, offline (runs inside bench/.venv-cryptofeed).

``bench/compare_cryptofeed.py`` creates that virtual environment, writes the
frame sets and a manifest, and runs this file there::

    bench/.venv-cryptofeed/bin/python bench/cryptofeed_handlers.py MANIFEST.json

cryptofeed reads instrument lists over REST when a feed is constructed; here
the class's synchronous HTTP reader is replaced by one that answers from the
instrument fixtures in ``tests/fixtures/instruments`` (the same bodies liqmon
loads), so the real ``_parse_symbol_data`` builds the symbol maps and no
network is used. Each frame is then passed to the feed's ``message_handler``
coroutine with a connection stub and a receipt timestamp, exactly as its
websocket loop does; a callback counts the normalized objects. Prints one JSON
document with frames, events and seconds per set.

Run directly with the main virtual environment, it only prints this notice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

# Which fixture answers which instrument endpoint (by a substring of the URL); anything else is empty.
FIXTURE_FOR = {
    "BINANCE_FUTURES": [("exchangeInfo", "binance_exchangeInfo.json")],
    "BYBIT": [("category=linear", "bybit_linear.json")],
    "OKX": [("instType=SWAP", "okx_swap.json"), ("instType=FUTURES", "okx_futures.json")],
}
EMPTY = {
    "BINANCE_FUTURES": {"symbols": []},
    "BYBIT": {"retCode": 0, "result": {"list": []}},
    "OKX": {"code": "0", "data": []},
}


class ConnStub:
    """What the handlers read from a connection: its address, uuid and subscriptions."""

    def __init__(self, address: str, subscription: dict[str, list[str]]) -> None:
        self.address = address
        self.uuid = "bench"
        self.subscription = subscription


def complete(exchange: str, body: Any) -> Any:
    """Add the fields cryptofeed reads that liqmon's trimmed fixtures leave out (tick sizes)."""
    if exchange == "BINANCE_FUTURES":
        for symbol in body["symbols"]:
            symbol["filters"] = [{"tickSize": "0.1"}, *symbol.get("filters", [])]
    if exchange == "BYBIT":
        for symbol in body["result"]["list"]:
            symbol.setdefault("priceFilter", {"tickSize": "0.1"})
    if exchange == "OKX":
        for inst in body["data"]:
            inst.setdefault("tickSz", "0.1")
    return body


def preload_symbols(feed_cls: Any, fixtures: Path) -> None:
    """Run the class's real symbol parsing over the fixtures instead of the venue's REST API."""
    exchange = feed_cls.id

    def read(address: str, **_: Any) -> Any:
        for marker, name in FIXTURE_FOR[exchange]:
            if marker in address:
                return complete(exchange, json.loads((fixtures / name).read_text()))
        return EMPTY[exchange]

    feed_cls.http_sync.read = read
    feed_cls.symbol_mapping(refresh=True)


async def run(manifest: dict[str, Any], frame_sets: dict[str, list[str]]) -> dict[str, Any]:
    from cryptofeed.defines import FUNDING, LIQUIDATIONS, OPEN_INTEREST
    from cryptofeed.exchanges import OKX, BinanceFutures, Bybit

    fixtures = Path(manifest["fixtures"])
    classes = {"binance": BinanceFutures, "bybit": Bybit, "okx": OKX}
    counted = [0]

    async def count(obj: Any, receipt_timestamp: float) -> None:
        counted[0] += 1

    feeds: dict[str, Any] = {}
    conns: dict[str, ConnStub] = {}
    for venue, cls in classes.items():
        preload_symbols(cls, fixtures)
        symbols = manifest["symbols"][venue]
        feeds[venue] = cls(
            symbols=symbols,
            channels=[LIQUIDATIONS, FUNDING, OPEN_INTEREST] if venue != "binance" else [LIQUIDATIONS, FUNDING],
            callbacks={LIQUIDATIONS: count, FUNDING: count, OPEN_INTEREST: count},
        )
        exchange_symbols = [feeds[venue].std_symbol_to_exchange_symbol(s) for s in symbols]
        conns[venue] = ConnStub(
            f"wss://stream.example/{'linear' if venue == 'bybit' else 'ws'}",
            {"funding": exchange_symbols, "open_interest": exchange_symbols},
        )

    results = []
    for spec in manifest["sets"]:
        feed, conn = feeds[spec["venue"]], conns[spec["venue"]]
        frames = frame_sets[spec["name"]]
        handler = feed.message_handler
        counted[0] = 0
        errors = 0
        started = time.perf_counter()
        for frame in frames:
            try:
                await handler(frame, conn, time.time())
            except Exception:
                errors += 1
        seconds = time.perf_counter() - started
        results.append(
            {"name": spec["name"], "frames": len(frames), "events": counted[0], "errors": errors, "seconds": seconds}
        )
    import cryptofeed

    return {"version": getattr(cryptofeed, "__version__", "2.4.1"), "results": results}


def main() -> None:
    try:
        import cryptofeed  # noqa: F401
    except ImportError:
        print("cryptofeed_handlers.py runs inside bench/.venv-cryptofeed; use bench/compare_cryptofeed.py")
        return
    if len(sys.argv) != 2:
        print(__doc__)
        return
    manifest = json.loads(Path(sys.argv[1]).read_text())
    frame_sets = {spec["name"]: Path(spec["frames"]).read_text().splitlines() for spec in manifest["sets"]}
    print(json.dumps(asyncio.run(run(manifest, frame_sets))))


if __name__ == "__main__":
    main()
