"""Golden files: every vendored sample frame of a venue in, the events (or ParseError) out.

Each venue's sample files are read in name order, line by line, through one
adapter whose instrument book holds the vendored instrument lists (so state
carried between frames, such as ticker deltas and BitMEX partials, is part of
the result). Deribit samples that hold only a channel's ``data`` payload are
wrapped in the subscription notification that carries them. The outcome of
each line, with the issues it raised, is one line of
``tests/fixtures/golden/<venue>.jsonl``.

Regenerate after a deliberate change, and review the diff:
``.venv/bin/python -m tests.unit.venues.golden``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson

from monitor.errors import ParseError
from monitor.venues.adapter import VenueAdapter
from monitor.venues.registry import create_adapter
from tests.conftest import FIXTURES, SAMPLES

GOLDEN = FIXTURES / "golden"
RECV = 1_738_771_200_000

# The vendored instrument lists, by the REST path each answers.
INSTRUMENT_FILES: dict[str, list[tuple[str, str]]] = {
    "binance": [
        ("/fapi/v1/exchangeInfo", "binance_exchangeInfo.json"),
        ("/fapi/v1/fundingInfo", "binance_fundingInfo.json"),
    ],
    "bybit": [
        ("/v5/market/instruments-info?category=linear", "bybit_linear.json"),
        ("/v5/market/instruments-info?category=inverse", "bybit_inverse.json"),
    ],
    "okx": [
        ("/api/v5/public/instruments?instType=SWAP", "okx_swap.json"),
        ("/api/v5/public/instruments?instType=FUTURES", "okx_futures.json"),
    ],
    "deribit": [
        ("/api/v2/public/get_instruments?currency=BTC&kind=future", "deribit_btc.json"),
        ("/api/v2/public/get_instruments?currency=USDC&kind=future", "deribit_usdc.json"),
    ],
    "bitmex": [("/api/v1/instrument/active", "bitmex_instrument_active.json")],
    "hyperliquid": [("/info", "hyperliquid_meta.json")],
    "gate": [
        ("/api/v4/futures/usdt/contracts", "gate_usdt_contracts.json"),
        ("/api/v4/futures/btc/contracts", "gate_btc_contracts.json"),
    ],
    "bitget": [
        ("/api/v2/mix/market/contracts?productType=USDT-FUTURES", "bitget_usdt_contracts.json"),
        ("/api/v2/mix/market/contracts?productType=COIN-FUTURES", "bitget_coin_contracts.json"),
    ],
    "bitfinex": [("/v2/status/deriv?keys=ALL", "bitfinex_status.json")],
}


def loaded_adapter(venue: str) -> VenueAdapter:
    """A fresh adapter of ``venue`` with the vendored instrument lists in its book."""
    adapter = create_adapter(venue)
    for path, name in INSTRUMENT_FILES[venue]:
        adapter.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    adapter.drain_issues()
    return adapter


def sample_files(venue: str) -> list[Path]:
    """The venue's sample files, in name order."""
    return sorted(SAMPLES.glob(f"{venue}_*.jsonl"))


# Deribit payload-only samples of channels named by index rather than by instrument.
_INDEX_CHANNELS = {
    "deribit_markprice_options": "markprice.options.btc_usd",
    "deribit_price_index": "deribit_price_index.btc_usd",
    "deribit_volatility_index": "deribit_volatility_index.btc_usd",
}


def socket_frame(venue: str, path: Path, line: str) -> str:
    """The frame as the socket delivers it (Deribit payload-only samples wrapped in their notification)."""
    if venue != "deribit" or '"jsonrpc"' in line:
        return line
    data = orjson.loads(line)
    first = data[0] if isinstance(data, list) else data
    kind = path.stem.split("_", 1)[1]
    channel = _INDEX_CHANNELS.get(path.stem) or f"{kind}.{first['instrument_name']}.raw"
    return orjson.dumps(
        {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    ).decode()


def outcomes(venue: str) -> list[dict[str, Any]]:
    """One record per sample line: where it came from, the events or the error, and the issues raised."""
    adapter = loaded_adapter(venue)
    results: list[dict[str, Any]] = []
    for path in sample_files(venue):
        rest = path.stem.endswith("_rest")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            record: dict[str, Any] = {"sample": f"{path.name}:{number}"}
            try:
                if rest:
                    events = adapter.parse_rest(rest_path(venue, line), line, RECV)
                else:
                    events = adapter.parse(socket_frame(venue, path, line), RECV)
            except ParseError as exc:
                record["error"] = exc.reason
            else:
                record["events"] = [msgspec.to_builtins(e) for e in events]
            issues = adapter.drain_issues()
            if issues:
                record["issues"] = sorted({reason for reason, _ in issues})
            results.append(record)
    return results


def rest_path(venue: str, body: str) -> str:
    """The REST path a vendored response body answers (Binance open interest is polled per symbol,
    Deribit option book summaries per currency)."""
    data = orjson.loads(body)
    if "result" in data:
        currency = data["result"][0]["base_currency"]
        return f"/api/v2/public/get_book_summary_by_currency?currency={currency}&kind=option"
    return f"/fapi/v1/openInterest?symbol={data['symbol']}"


def golden_path(venue: str) -> Path:
    return GOLDEN / f"{venue}.jsonl"


def render(records: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() + "\n" for r in records)


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for venue in INSTRUMENT_FILES:
        golden_path(venue).write_text(render(outcomes(venue)))
        print(f"wrote {golden_path(venue)}")


if __name__ == "__main__":
    main()
