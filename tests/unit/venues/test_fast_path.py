"""The typed fast paths of every venue that has one give exactly what the dict-based readers give.

Every frame is fed to two adapters with the same instrument book: one through
``parse`` (fast path, falling back to the generic reader), one through
``parse_generic`` only. After each frame the outcome must be identical: the
same events byte for byte once encoded (so ids, float bits and the sign of
zero count), or the same ParseError message and reason; the same issues; and
the same per-symbol state (mark prices, ticker snapshots, last published
values, resting orders). Inputs are every vendored sample frame, frames shaped
like live traffic, and Hypothesis variants of them with values replaced, keys
dropped and keys added.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.events import Event, Funding, Liquidation
from monitor.venues.binance import BinanceAdapter
from monitor.venues.bitget import BitgetAdapter
from monitor.venues.bitmex import BitmexAdapter
from monitor.venues.bybit import BybitAdapter
from monitor.venues.common import FastPathMiss, event_id, num
from monitor.venues.deribit import DeribitAdapter
from monitor.venues.gate import GateAdapter
from monitor.venues.hyperliquid import HyperliquidAdapter
from monitor.venues.okx import OkxAdapter
from tests.conftest import FIXTURES, SAMPLES

RECV = 1_738_771_200_000
VARIANTS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lines(name: str) -> list[str]:
    return [line for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


FastAdapter = (
    BinanceAdapter
    | BybitAdapter
    | OkxAdapter
    | DeribitAdapter
    | BitmexAdapter
    | HyperliquidAdapter
    | GateAdapter
    | BitgetAdapter
)


def with_book(adapter: FastAdapter, files: list[tuple[str, str]]) -> FastAdapter:
    for path, name in files:
        adapter.load_instruments(path, (FIXTURES / "instruments" / name).read_bytes())
    adapter.drain_issues()
    return adapter


def binance() -> FastAdapter:
    return with_book(
        BinanceAdapter(),
        [("/fapi/v1/exchangeInfo", "binance_exchangeInfo.json"), ("/fapi/v1/fundingInfo", "binance_fundingInfo.json")],
    )


def bybit() -> FastAdapter:
    return with_book(
        BybitAdapter(),
        [
            ("/v5/market/instruments-info?category=linear", "bybit_linear.json"),
            ("/v5/market/instruments-info?category=inverse", "bybit_inverse.json"),
        ],
    )


def okx() -> FastAdapter:
    return with_book(
        OkxAdapter(),
        [
            ("/api/v5/public/instruments?instType=SWAP", "okx_swap.json"),
            ("/api/v5/public/instruments?instType=FUTURES", "okx_futures.json"),
        ],
    )


def deribit() -> FastAdapter:
    path = "/api/v2/public/get_instruments?currency={}&kind=future"
    return with_book(
        DeribitAdapter(), [(path.format("BTC"), "deribit_btc.json"), (path.format("USDC"), "deribit_usdc.json")]
    )


def bitmex() -> FastAdapter:
    return with_book(BitmexAdapter(), [("/api/v1/instrument/active", "bitmex_instrument_active.json")])


def hyperliquid() -> FastAdapter:
    return with_book(HyperliquidAdapter(), [("/info#meta", "hyperliquid_meta.json")])


def gate() -> FastAdapter:
    return with_book(
        GateAdapter(),
        [
            ("/api/v4/futures/usdt/contracts", "gate_usdt_contracts.json"),
            ("/api/v4/futures/btc/contracts", "gate_btc_contracts.json"),
        ],
    )


def bitget() -> FastAdapter:
    path = "/api/v2/mix/market/contracts?productType="
    return with_book(
        BitgetAdapter(),
        [(path + "USDT-FUTURES", "bitget_usdt_contracts.json"), (path + "COIN-FUTURES", "bitget_coin_contracts.json")],
    )


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def combined(stream: str, line: str) -> str:
    return '{"stream":"' + stream + '","data":' + line + "}"


# Frames shaped like live traffic that the samples lack: combined-stream wrappers, an all-market array with a
# delivery contract (no funding, T 0), a symbol outside the book, both OKX position modes, a ticker delta.
BINANCE_FRAMES = [
    *lines("binance_forceOrder.jsonl"),
    *lines("binance_markPrice.jsonl"),
    *(combined("btcusdt@forceOrder", line) for line in lines("binance_forceOrder.jsonl")),
    *(combined("btcusdt@markPrice@1s", line) for line in lines("binance_markPrice.jsonl")),
    combined(
        "!markPrice@arr@1s",
        '[{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15","i":"11784.6","r":"0.0001",'
        '"T":1562306400000},{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT_250627","p":"11800.1",'
        '"i":"11784.6","r":"","T":0},{"e":"markPriceUpdate","E":1562305380000,"s":"DOGEUSDT","p":"0.1",'
        '"i":"0.1","r":"-0.00002","T":1562306400000}]',
    ),
    combined(
        "!forceOrder@arr",
        '{"e":"forceOrder","E":1700000000001,"o":{"s":"DOGEUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"120",'
        '"p":"0.081","ap":"0","X":"FILLED","l":"120","z":"0","T":1700000000000}}',
    ),
    '{"result":null,"id":1}',
]
BYBIT_FRAMES = [
    *lines("bybit_allLiquidation.jsonl"),
    *lines("bybit_liquidation.jsonl"),
    *lines("bybit_tickers.jsonl"),
    '{"topic":"tickers.ROSEUSDT","type":"snapshot","data":{"symbol":"ROSEUSDT","markPrice":"0.045",'
    '"indexPrice":"0.0451","openInterest":"1000","fundingRate":"0.0001","nextFundingTime":"1739520000000",'
    '"fundingIntervalHour":"4"},"cs":1,"ts":1739502303204}',
    '{"topic":"tickers.ROSEUSDT","type":"delta","data":{"symbol":"ROSEUSDT","markPrice":"0.046",'
    '"openInterest":"1010"},"cs":2,"ts":1739502303304}',
    '{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","fundingRate":"-0.0001"},"cs":3,'
    '"ts":1739502303404}',
    '{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}',
]
OKX_FRAMES = [
    *lines("okx_liquidation-orders.jsonl"),
    *lines("okx_funding-rate.jsonl"),
    *lines("okx_mark-price.jsonl"),
    *lines("okx_open-interest.jsonl"),
    '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"61000.5",'
    '"ccy":"","posSide":"net","side":"sell","sz":"3","ts":"1700000000000"},{"bkLoss":"0","bkPx":"61001",'
    '"ccy":"","posSide":"long","side":"sell","sz":"1","ts":""}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP",'
    '"instType":"SWAP","uly":"BTC-USDT"}]}',
    '{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP",'
    '"markPx":"61000.1","ts":"1700000000000"}]}',
    '{"arg":{"channel":"open-interest","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP",'
    '"instType":"SWAP","oi":"100","oiCcy":"1","oiUsd":"","ts":"1700000000000"}]}',
    '{"event":"error","code":"60012","msg":"Invalid request"}',
    "pong",
]


def notification(channel: str, data: Any) -> str:
    """A Deribit subscription notification (the docs samples show only its ``data``)."""
    body = {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}
    return orjson.dumps(body).decode()


# Every liquidation flag, a plain trade, an option and a linear contract, a ticker before any mark price (open
# interest in USD then has no price), a ticker without funding or time, heartbeats and request answers.
DERIBIT_TICKER = notification("ticker.BTC-PERPETUAL.100ms", orjson.loads(lines("deribit_ticker.jsonl")[0]))
DERIBIT_TRADE = {
    "trade_seq": 1,
    "trade_id": "ETH-1",
    "timestamp": 1770292812000,
    "tick_direction": 0,
    "price": 1900.5,
    "mark_price": 1900.1,
    "instrument_name": "ETH_USDC-PERPETUAL",
    "index_price": 1899.9,
    "direction": "buy",
    "amount": 2.5,
    "liquidation": "MT",
}
DERIBIT_SAMPLES = [
    DERIBIT_TICKER,
    notification("trades.BTC-PERPETUAL.100ms", orjson.loads(lines("deribit_trades.jsonl")[0])),
    *lines("deribit_trades.jsonl")[1:],
]
DERIBIT_FRAMES = [
    notification("ticker.ETH-PERPETUAL.100ms", {"instrument_name": "ETH-PERPETUAL", "open_interest": 1e6}),
    *DERIBIT_SAMPLES,
    notification("trades.ETH_USDC-PERPETUAL.100ms", [DERIBIT_TRADE, {**DERIBIT_TRADE, "liquidation": "T"}]),
    notification(
        "trades.BTC-27JUN25-60000-C.100ms",
        [{**DERIBIT_TRADE, "instrument_name": "BTC-27JUN25-60000-C", "liquidation": "M", "trade_id": "7"}],
    ),
    notification(
        "trades.BTC-27JUN25-60000-C.100ms",
        [
            {**DERIBIT_TRADE, "instrument_name": "BTC-27JUN25-60000-C", "liquidation": "T"},
            {**DERIBIT_TRADE, "direction": "up"},
        ],
    ),
    notification("ticker.ETH-PERPETUAL.100ms", {"instrument_name": "ETH-PERPETUAL", "mark_price": 1900}),
    notification(
        "ticker.ETH_USDC-PERPETUAL.raw",
        {
            "instrument_name": "ETH_USDC-PERPETUAL",
            "timestamp": 1770292812000,
            "mark_price": "",
            "funding_8h": None,
            "index_price": "x",
            "open_interest": 12.5,
        },
    ),
    notification("book.BTC-PERPETUAL.100ms", {"instrument_name": "BTC-PERPETUAL"}),
    '{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}',
    '{"jsonrpc":"2.0","id":2,"result":["trades.BTC-PERPETUAL.100ms"]}',
    '{"jsonrpc":"2.0","id":3,"error":{"code":11050,"message":"bad_request"}}',
]


def liquidation_table(action: str, *rows: dict[str, Any]) -> str:
    return orjson.dumps({"table": "liquidation", "action": action, "data": rows}).decode()


# New orders (known, unknown, quanto and non-USD contracts), updates that raise and lower what is left, a
# delete, an order that fails validation after another was read, the instrument table and control frames.
BITMEX_ORDER = {"orderID": "o-1", "symbol": "XBTUSDT", "side": "Sell", "price": 70000.5, "leavesQty": 2000}
BITMEX_FRAMES = [
    *lines("bitmex_liquidation.jsonl"),
    *lines("bitmex_instrument.jsonl"),
    liquidation_table("partial"),
    liquidation_table(
        "partial",
        BITMEX_ORDER,
        {**BITMEX_ORDER, "orderID": "o-2", "symbol": "ETHUSD", "side": "Buy", "price": "1900"},
        {**BITMEX_ORDER, "orderID": "o-3", "symbol": "NOSUCHUSDT"},
    ),
    liquidation_table("update", {"orderID": "o-1", "leavesQty": 2500}),
    liquidation_table("update", {"orderID": "o-2", "price": 1901, "leavesQty": 10}),
    liquidation_table("update", {"orderID": "o-9", "leavesQty": 1}),
    liquidation_table("insert", {**BITMEX_ORDER, "orderID": "o-4", "symbol": "TRXZ19"}, {**BITMEX_ORDER, "price": -1}),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": "o-9", "symbol": "XBTUSD"}),
    liquidation_table("insert", BITMEX_ORDER),
    liquidation_table("delete", {"orderID": "o-1"}, {"orderID": ""}),
    '{"table":"liquidation","action":"insert","keys":["orderID"],"data":{"orderID":"o-5"}}',
    '{"info":"Welcome to the BitMEX Realtime API.","version":"2.0.0","timestamp":"2026-02-05T12:00:00.000Z"}',
    '{"success":true,"subscribe":"liquidation","request":{"op":"subscribe","args":["liquidation"]}}',
    '{"status":400,"error":"Unknown table: liquidations","request":{"op":"subscribe","args":["liquidations"]}}',
    "pong",
]
HYPERLIQUID_CTX = lines("hyperliquid_activeAssetCtx.jsonl")[0]
HYPERLIQUID_FRAMES = [
    HYPERLIQUID_CTX,
    HYPERLIQUID_CTX,  # the same context again publishes nothing
    '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"-0.0000125","openInterest":"1000.5"}}}',
    '{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"-0.0000125","openInterest":"1000.5",'
    '"markPx":"","oraclePx":null}}}',
    '{"channel":"activeAssetCtx","data":{"coin":"NOSUCH","ctx":{"funding":0.0001,"openInterest":7,"markPx":2.5,'
    '"oraclePx":"2.4","impactPxs":["2.4","2.6"]}}}',
    '{"channel":"pong"}',
    '{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"activeAssetCtx",'
    '"coin":"BTC"}}}',
    '{"channel":"error","data":"Invalid subscription"}',
]
# Result as a single object and as a nested array, times from the row, the envelope or the receive time,
# contracts outside the book, a zero size, an error field, acks, pongs and notices.
GATE_FRAMES = [
    *lines("gate_public_liquidates.jsonl"),
    *lines("gate_tickers.jsonl"),
    *lines("gate_contract_stats.jsonl"),
    '{"channel":"futures.public_liquidates","event":"update","time":1770292812,"result":{"price":"1900",'
    '"size":"30","contract":"ETH_USDT"}}',
    '{"channel":"futures.public_liquidates","event":"update","result":[[{"price":"1900","size":"-3",'
    '"time_ms":1770292811000,"contract":"ETH_USDT"}],{"price":"0.2","size":"5","contract":"NOSUCH_USDT"}]}',
    '{"channel":"futures.public_liquidates","event":"all","time_ms":1770292812000,"result":[{"price":"0.2",'
    '"size":"5","contract":"NOSUCH_USDT"},{"price":"1900","size":"0","contract":"ETH_USDT"}]}',
    '{"channel":"futures.tickers","event":"update","time":1770292812,"error":null,"result":{"contract":"NOSUCH_USDT",'
    '"funding_rate":"0.0001","mark_price":"","total_size":"100"}}',
    '{"channel":"futures.tickers","event":"update","time":1770292812,"result":[{"contract":"BTC_USD",'
    '"funding_rate":"","mark_price":"0","total_size":"73648"}]}',
    '{"channel":"futures.contract_stats","event":"update","result":{"contract":"DOGE_USDT","open_interest":12,'
    '"mark_price":null}}',
    '{"time":1770292812,"channel":"futures.tickers","event":"subscribe","error":null,"result":{"status":"success"}}',
    '{"time":1770292812,"channel":"futures.tickers","event":"subscribe","error":{"code":2,"message":"unknown"},'
    '"result":null}',
    '{"time":1770292812,"channel":"futures.pong","event":"","error":null,"result":null}',
    '{"time":1770292812,"channel":"futures.system","event":"update","result":{"message":"restart"}}',
]
# Symbols from the row, the row's other key or the arg, a delivery contract, UTA tickers, symbols outside the
# book, a non-positive price, acks and errors.
BITGET_TICKER = lines("bitget_ticker.jsonl")[0]
BITGET_FRAMES = [
    *lines("bitget_liquidation.jsonl"),
    *lines("bitget_ticker.jsonl"),
    '{"action":"snapshot","arg":{"instType":"USDC-FUTURES","channel":"ticker","instId":"BTCPERP"},"data":[{'
    '"fundingRate":"0.0001","nextFundingTime":1770307200000,"markPrice":"70000","indexPrice":"69990",'
    '"holdingAmount":"12.5","symbolType":1,"ts":1770292800000}]}',
    '{"action":"snapshot","arg":{"instType":"usdt-futures","topic":"ticker","symbol":"ETHUSDT"},"data":[{'
    '"instId":"","symbol":"ETHUSDT","fundingRate":"","nextFundingTime":"","markPrice":"1900",'
    '"openInterest":"1000"}],"ts":1770292800000}',
    '{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},"data":[{'
    '"symbol":"STORJUSDT","fundingRate":"0.0001","nextFundingTime":"1730361600000","markPrice":"0.47"}]}',
    '{"action":"snapshot","arg":{"instType":"COIN-FUTURES","channel":"ticker","instId":"ETHUSDH25"},"data":[{'
    '"instId":"ETHUSDH25","fundingRate":"0","nextFundingTime":"1770307200000","markPrice":"1900",'
    '"holdingAmount":null,"symbolType":"delivery"}]}',
    '{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"NOSUCHUSDT",'
    '"side":"sell","price":"2","amount":"10"},{"symbol":"BTCUSDT","side":"buy","price":"0","amount":"10",'
    '"ts":"1777358886549"}],"ts":1777358897167}',
    '{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[]}',
    '{"event":"subscribe","arg":{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"}}',
    '{"event":"error","code":30001,"msg":"instType:USDT-FUTURES,channel:ticker,instId:NOPE doesn\'t exist"}',
    "pong",
]


def respelled(line: str, path: tuple[Any, ...], spellings: tuple[Any, ...]) -> list[str]:
    """``line`` once per spelling of the value at ``path``."""
    frames = []
    for spelling in spellings:
        doc = orjson.loads(line)
        at(doc, path[:-1])[path[-1]] = spelling
        frames.append(orjson.dumps(doc).decode())
    return frames


def each_respelled(line: str, *where: Any, paths: tuple[str, ...]) -> list[str]:
    """``line`` once per spelling in ZEROS of each value named in ``paths`` (keys of the object at ``where``)."""
    return [frame for key in paths for frame in respelled(line, (*where, key), ZEROS)]


def with_keys(frames: list[str], *extras: dict[str, Any]) -> list[str]:
    """Each object frame once per set of extra keys, added at the top and inside a combined-stream wrapper."""
    out = []
    for line in frames:
        for extra in extras:
            for nested in (False, True):
                doc = orjson.loads(line)
                target = doc.get("data") if nested and isinstance(doc, dict) else doc
                if isinstance(target, dict):
                    target.update(extra)
                    out.append(orjson.dumps(doc).decode())
    return out


# Values the two readers could tell apart only by their spelling: "0" (no funding time) against "0.0" or 0 (time
# zero), a signed zero, an integer past 2**53; and objects that the generic readers take for wrappers or answers.
ZEROS = ("0", "0.0", "-0", "-0.0", 0, 0.0, "9007199254740993", 9007199254740993)
BINANCE_FRAMES += [
    *respelled(lines("binance_markPrice.jsonl")[0], ("T",), ZEROS),
    *respelled(lines("binance_markPrice.jsonl")[0], ("r",), ZEROS),
    *respelled(lines("binance_forceOrder.jsonl")[0], ("o", "z"), ZEROS),
    *respelled(lines("binance_forceOrder.jsonl")[0], ("o", "T"), ZEROS),
    *with_keys(BINANCE_FRAMES[:12], {"id": 1, "result": None}, {"id": 1, "error": {}}, {"stream": "x", "data": {}}),
]
BYBIT_FRAMES += [
    *respelled(lines("bybit_tickers.jsonl")[0], ("data", "nextFundingTime"), ZEROS),
    *respelled(lines("bybit_tickers.jsonl")[0], ("data", "fundingRate"), ZEROS),
    *respelled(lines("bybit_allLiquidation.jsonl")[0], ("data", 0, "T"), ZEROS),
    *respelled(lines("bybit_liquidation.jsonl")[0], ("data", "updatedTime"), ZEROS),
    *respelled(lines("bybit_liquidation.jsonl")[0], ("ts",), ZEROS),
]
OKX_FRAMES += [
    *respelled(lines("okx_funding-rate.jsonl")[0], ("data", 0, "fundingTime"), ZEROS),
    *respelled(lines("okx_funding-rate.jsonl")[0], ("data", 0, "nextFundingTime"), ZEROS),
    *respelled(lines("okx_funding-rate.jsonl")[0], ("data", 0, "fundingRate"), ZEROS),
    *respelled(lines("okx_liquidation-orders.jsonl")[0], ("data", 0, "details", 0, "ts"), ZEROS),
    *respelled(lines("okx_open-interest.jsonl")[0], ("data", 0, "oiCcy"), ZEROS),
    *with_keys(OKX_FRAMES[:5], {"event": "subscribe"}),
]

DERIBIT_FRAMES += [
    *each_respelled(
        DERIBIT_TICKER,
        "params",
        "data",
        paths=("timestamp", "mark_price", "funding_8h", "index_price", "open_interest"),
    ),
    *each_respelled(lines("deribit_trades.jsonl")[1], "params", "data", 0, paths=("timestamp", "price", "amount")),
    *respelled(lines("deribit_trades.jsonl")[1], ("params", "data", 0, "trade_id"), (*ZEROS, "", 1.0, None)),
    *with_keys(DERIBIT_FRAMES[:6], {"id": 7}, {"method": "heartbeat"}),
]
BITMEX_FRAMES += [
    *each_respelled(liquidation_table("insert", BITMEX_ORDER), "data", 0, paths=("price", "leavesQty")),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("data", 0, "orderID"), ("", 1, None, "o-1")),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("data", 0, "side"), ("Buy", "buy", "", None)),
    *respelled(liquidation_table("insert", BITMEX_ORDER), ("action",), ("partial", "update", "delete", "x")),
]
HYPERLIQUID_FRAMES += [
    *each_respelled(HYPERLIQUID_CTX, "data", "ctx", paths=("funding", "openInterest", "markPx", "oraclePx")),
    *with_keys(HYPERLIQUID_FRAMES[:3], {"channel": "pong"}, {"zz": 1}),
]
GATE_FRAMES += [
    *each_respelled(lines("gate_public_liquidates.jsonl")[1], "result", 0, paths=("time", "size", "price")),
    *each_respelled(lines("gate_public_liquidates.jsonl")[0], paths=("time", "time_ms")),
    *each_respelled(
        lines("gate_tickers.jsonl")[1],
        "result",
        0,
        paths=("t", "mark_price", "funding_rate", "index_price", "total_size"),
    ),
    *each_respelled(lines("gate_tickers.jsonl")[0], paths=("time_ms",)),
    *each_respelled(lines("gate_contract_stats.jsonl")[1], "result", 0, paths=("open_interest", "mark_price", "time")),
    *with_keys(GATE_FRAMES[:9], {"error": None}, {"error": ""}, {"error": "no"}, {"event": "subscribe"}),
]
BITGET_FRAMES += [
    *each_respelled(
        BITGET_TICKER,
        "data",
        0,
        paths=("nextFundingTime", "ts", "holdingAmount", "markPrice", "fundingRate", "indexPrice"),
    ),
    *each_respelled(lines("bitget_ticker.jsonl")[3], "data", 0, paths=("openInterest",)),
    *respelled(BITGET_TICKER, ("data", 0, "symbolType"), (1, 2, "1", "2", 2.0, "delivery", "perpetual", None, True)),
    *each_respelled(lines("bitget_liquidation.jsonl")[0], "data", 0, paths=("ts", "price", "amount")),
    *each_respelled(lines("bitget_liquidation.jsonl")[0], paths=("ts",)),
    *with_keys(BITGET_FRAMES[:9], {"event": "subscribe"}, {"event": None}),
]

VENUES: dict[str, tuple[Callable[[], FastAdapter], list[str]]] = {
    "binance": (binance, BINANCE_FRAMES),
    "bybit": (bybit, BYBIT_FRAMES),
    "okx": (okx, OKX_FRAMES),
    "deribit": (deribit, DERIBIT_FRAMES),
    "bitmex": (bitmex, BITMEX_FRAMES),
    "hyperliquid": (hyperliquid, HYPERLIQUID_FRAMES),
    "gate": (gate, GATE_FRAMES),
    "bitget": (bitget, BITGET_FRAMES),
}

# The sample frames of the channels the fast paths exist for: they must not fall back.
FAST_SAMPLES = {
    "binance": [*lines("binance_forceOrder.jsonl"), *lines("binance_markPrice.jsonl")],
    "bybit": [*lines("bybit_allLiquidation.jsonl"), *lines("bybit_liquidation.jsonl"), *lines("bybit_tickers.jsonl")],
    "okx": [
        *lines("okx_liquidation-orders.jsonl"),
        *lines("okx_funding-rate.jsonl"),
        *lines("okx_mark-price.jsonl"),
        *lines("okx_open-interest.jsonl"),
    ],
    "deribit": DERIBIT_SAMPLES,
    "bitmex": lines("bitmex_liquidation.jsonl"),
    "hyperliquid": lines("hyperliquid_activeAssetCtx.jsonl"),
    "gate": [
        *lines("gate_public_liquidates.jsonl"),
        *lines("gate_tickers.jsonl"),
        *lines("gate_contract_stats.jsonl"),
    ],
    "bitget": [*lines("bitget_liquidation.jsonl"), *lines("bitget_ticker.jsonl")],
}


# What the adapters remember between frames: mark prices, ticker snapshots, last published values, merged
# instrument rows and resting liquidation orders.
STATE = ("_marks", "_tickers", "_last", "_rows", "_orders")


def state(adapter: FastAdapter) -> bytes:
    """What an adapter remembers between frames, in order and encoded so that -0.0 and 0.0 differ."""
    kept = {name: list(getattr(adapter, name).items()) for name in STATE if hasattr(adapter, name)}
    return msgspec.json.encode(kept)


def outcome(adapter: FastAdapter, read: Callable[[str | bytes, int], list[Event]], frame: str | bytes) -> Any:
    try:
        result: Any = ("events", msgspec.json.encode(read(frame, RECV)))
    except ParseError as exc:
        result = ("error", str(exc), exc.reason)
    return result, adapter.drain_issues(), state(adapter)


def assert_same(venue: str, frames: list[str | bytes]) -> None:
    """Feed ``frames`` in order to a fast-path adapter and a generic-only one; compare after every frame."""
    factory, _ = VENUES[venue]
    fast, generic = factory(), factory()
    for frame in frames:
        assert outcome(fast, fast.parse, frame) == outcome(generic, generic.parse_generic, frame), frame


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_every_sample_frame_reads_the_same_on_both_paths(venue: str) -> None:
    frames = VENUES[venue][1]
    assert_same(venue, list(frames))
    assert_same(venue, [frame.encode() for frame in frames])  # websockets hands over bytes for binary frames
    for frame in frames:  # and each on its own, where no earlier frame's state hides a difference
        assert_same(venue, [frame])


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_hot_channel_samples_take_the_fast_path(venue: str) -> None:
    factory, _ = VENUES[venue]
    for frame in FAST_SAMPLES[venue]:
        events = factory()._parse_fast(frame, RECV)
        assert events == factory().parse_generic(frame, RECV), frame


def test_a_frame_declined_halfway_ends_as_the_generic_reader_leaves_it() -> None:
    # The second row's funding time is a string, which only the generic reader interprets: the fast path
    # declines the frame after the first row, and the generic reader then reads the whole frame as before.
    frame = combined(
        "!markPrice@arr@1s",
        '[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"100","r":"0.0001","T":5},'
        '{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"10","r":"0.0001","T":"0"}]',
    )
    adapter, generic = binance(), binance()
    with pytest.raises(FastPathMiss):
        adapter._parse_fast(frame, RECV)
    [first, second] = adapter.parse(frame, RECV)
    assert isinstance(first, Funding)
    assert isinstance(second, Funding)
    assert (first.symbol, second.symbol) == ("BTCUSDT", "ETHUSDT")
    assert second.next_funding_ms == 0
    assert msgspec.json.encode([first, second]) == msgspec.json.encode(generic.parse_generic(frame, RECV))
    assert state(adapter) == state(generic)


def test_event_ids_do_not_depend_on_the_process() -> None:
    # A literal, not a recomputation: an id that changed between versions or processes would break dedup.
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.0) == "e993891d50718f56c179"
    assert event_id("binance|BTCUSDT|SELL", 1_568_014_460_893, 0.014, 9910.5) != "e993891d50718f56c179"


@pytest.mark.parametrize("spelling", ["-0", "-0.0", "0", 0, -0.0])
def test_zero_is_read_without_a_sign_whatever_its_spelling(spelling: object) -> None:
    # The fast path's decoder reads "-0" as 0.0 but "-0.0" as -0.0; num() drops the sign so both readers agree.
    assert math.copysign(1.0, num(spelling, "x")) == 1.0


# -- Hypothesis variants -------------------------------------------------------------------------
# Spellings where number parsers tend to differ: signed zeros, bare dots, exponents, range limits, non-numbers.
awkward_numbers = st.sampled_from(
    [
        *("0", "-0", "0.0", "-0.0", "-0e3", "00", "1.", ".5", " 1", "1_0", "+1", "1e5", "1E-5", "nan", "inf"),
        *("-Infinity", "1e308", "1e309", "4.9e-324", "1e-400", "9007199254740993", "1568014460893.5", "1.5e12"),
        *("", "abc", "0x10"),
    ]
)
numeric_strings = st.one_of(
    awkward_numbers,
    st.from_regex(r"-?(0|[1-9]\d{0,6})(\.\d{1,9})?([eE][+-]?\d{1,3})?", fullmatch=True),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 1.5e12, 2**53, 2**53 + 1]),
)
other_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["SELL", "BUY", "Buy", "Sell", "long", "short", "net", "buy", "sell", "delta", "snapshot"]),
    st.sampled_from(["forceOrder", "markPriceUpdate", "tickers.BTCUSDT", "liquidation.BTCUSDT", "funding-rate"]),
    st.sampled_from([[], {}, [1], {"a": 1}, "BTCUSDT", "BTC-USDT-SWAP", "ROSEUSDT", "XRPUSD", "NOSUCHUSDT"]),
)
leaf_values = st.one_of(awkward_numbers, numeric_strings, numbers, other_values)
# Keys the generic readers give a meaning to, and a stranger.
extra_keys = st.sampled_from(
    ["stream", "data", "id", "result", "error", "event", "op", "topic", "type", "ts", "T", "E", "updateTime", "zz"]
)


def nodes(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value in a JSON document (the root is ``()``)."""
    found = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += nodes(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += nodes(value, (*path, index))
    return found


def fresh(value: Any) -> Any:
    """A copy of a drawn value: sampled lists and dicts are shared between examples and must not be mutated."""
    return copy.deepcopy(value)


@st.composite
def variant(draw: st.DrawFn, frames: list[str]) -> str:
    """A frame with a few values replaced (mostly numbers, respelled), keys dropped or keys added; or as it was."""
    line = draw(st.sampled_from([f for f in frames if f.startswith(("{", "["))]))
    doc = copy.deepcopy(orjson.loads(line))
    for _ in range(draw(st.integers(0, 4))):
        paths = nodes(doc)
        leaves = [
            p for p in paths if p and isinstance(at(doc, p), (str, int, float)) and not isinstance(at(doc, p), bool)
        ]
        action = draw(st.sampled_from(["respell", "respell", "respell", "set", "drop", "add"]))
        if action == "respell" and leaves:
            path = draw(st.sampled_from(leaves))
            at(doc, path[:-1])[path[-1]] = fresh(draw(leaf_values))
            continue
        path = draw(st.sampled_from(paths))
        target = at(doc, path)
        if action == "add" and isinstance(target, dict):
            target[draw(extra_keys)] = fresh(draw(leaf_values))
        elif action == "set" and path:
            at(doc, path[:-1])[path[-1]] = fresh(draw(leaf_values))
        elif action == "drop" and path:
            del at(doc, path[:-1])[path[-1]]
    return json.dumps(doc, separators=(",", ":"))  # integers beyond 64 bits too


@VARIANTS
@given(st.lists(variant(BINANCE_FRAMES), min_size=1, max_size=3))
def test_binance_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("binance", list(frames))


@VARIANTS
@given(st.lists(variant(BYBIT_FRAMES), min_size=1, max_size=4))
def test_bybit_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("bybit", list(frames))


@VARIANTS
@given(st.lists(variant(OKX_FRAMES), min_size=1, max_size=3))
def test_okx_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("okx", list(frames))


@VARIANTS
@given(st.lists(variant(DERIBIT_FRAMES), min_size=1, max_size=3))
def test_deribit_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("deribit", list(frames))


@VARIANTS
@given(st.lists(variant(BITMEX_FRAMES), min_size=1, max_size=4))
def test_bitmex_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("bitmex", list(frames))


@VARIANTS
@given(st.lists(variant(HYPERLIQUID_FRAMES), min_size=1, max_size=3))
def test_hyperliquid_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("hyperliquid", list(frames))


@VARIANTS
@given(st.lists(variant(GATE_FRAMES), min_size=1, max_size=3))
def test_gate_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("gate", list(frames))


@VARIANTS
@given(st.lists(variant(BITGET_FRAMES), min_size=1, max_size=3))
def test_bitget_variants_read_the_same_on_both_paths(frames: list[str]) -> None:
    assert_same("bitget", list(frames))


SAMPLED_FEEDS = {
    "binance": ["binance_forceOrder.jsonl"],
    "okx": ["okx_liquidation-orders.jsonl"],
    "bitget": ["bitget_liquidation.jsonl"],
    "bybit": ["bybit_liquidation.jsonl"],  # the legacy topic: at most one per symbol per second
}
COMPLETE_FEEDS = {
    "bybit": ["bybit_allLiquidation.jsonl"],
    "deribit": ["deribit_trades.jsonl"],
    "bitmex": ["bitmex_liquidation.jsonl"],
    "gate": ["gate_public_liquidates.jsonl"],
}


@pytest.mark.parametrize(
    ("venue", "name", "sampled"),
    [(v, n, True) for v, names in SAMPLED_FEEDS.items() for n in names]
    + [(v, n, False) for v, names in COMPLETE_FEEDS.items() for n in names],
)
def test_every_liquidation_says_whether_its_feed_is_sampled(venue: str, name: str, sampled: bool) -> None:
    factory, _ = VENUES[venue]
    adapter = factory()
    found: list[Liquidation] = []
    for line in lines(name):
        try:
            found += [e for e in adapter.parse(line, RECV) if isinstance(e, Liquidation)]
        except ParseError:
            continue  # the sample files also hold raw payloads that are not frames

    assert found, name
    assert {e.sampled for e in found} == {sampled}
