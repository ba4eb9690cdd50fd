"""Telegram MarkdownV2 messages and Discord embeds: escaped, within every limit, long alerts split or trimmed."""

from __future__ import annotations

import pytest

from monitor.alerts.discord import EMBED_TOTAL_LIMIT, FIELDS_LIMIT, build_embed, build_payload, embed_size
from monitor.alerts.telegram import MESSAGE_LIMIT, escape, plain, render, split_message, units
from tests.integration.alerts.chat_apis import discord_payload_error, markdown_v2_error
from tests.unit.alerts.helpers import make_alert

NASTY = "BTC -6.8% (flush) [x] *not bold* _no_ `tick` a.b! 1+1=2 #tag {set} |pipe| ~tilde~ > quote \\ back"


def test_escaped_text_parses_as_markdown_v2_and_reads_as_written() -> None:
    assert markdown_v2_error(NASTY) is not None  # the checker refuses unescaped text
    assert markdown_v2_error(escape(NASTY)) is None
    assert plain(escape(NASTY)) == NASTY


@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_telegram_message_is_valid_markdown_v2_with_the_facts(status: str) -> None:
    alert = make_alert(3, summary=NASTY, status=status, venue="bybit")
    [message] = render(alert)
    assert markdown_v2_error(message) is None
    text = plain(message)
    assert NASTY in text
    assert "Liquidated: $412M" in text
    assert "BTC on bybit" in text
    assert "alert-3" in text
    assert text.startswith("\u2705 RESOLVED" if status == "resolved" else "\U0001f534 CRITICAL")


def test_a_long_telegram_alert_is_split_into_valid_messages_in_order() -> None:
    summary = " ".join(f"venue-{i}: liquidations (long) at $1.{i}M!" for i in range(900))
    alert = make_alert(1, summary=summary)
    parts = render(alert)
    assert len(parts) >= 9
    assert all(units(p) <= MESSAGE_LIMIT for p in parts)
    assert all(markdown_v2_error(p) is None for p in parts)
    joined = "".join(plain(p) for p in parts).replace("\n", "")
    assert summary in joined  # nothing lost, nothing reordered
    assert "alert-1" in plain(parts[-1])


def test_split_never_separates_an_escape_from_its_character() -> None:
    line = escape("." * 50)  # 100 characters, every other one a backslash
    for limit in range(5, 20):
        parts = split_message([line], limit)
        assert all(markdown_v2_error(p) is None and units(p) <= limit for p in parts)
        assert "".join(plain(p) for p in parts) == "." * 50


def test_units_count_like_telegram() -> None:
    assert units("\U0001f534 a") == 4  # an emoji outside the BMP is two UTF-16 units


def test_discord_payload_is_within_limits_and_pings_nobody() -> None:
    payload = build_payload(make_alert(2, summary="@everyone " + NASTY, venue="okx"), "liqmon")
    assert discord_payload_error(payload) is None
    assert payload["allowed_mentions"] == {"parse": []}
    [embed] = payload["embeds"]
    assert embed["title"].startswith("\U0001f534 CRITICAL · BTC on okx")
    assert {"name": "Liquidated", "value": "$412M", "inline": True} in embed["fields"]
    assert "alert-2" in embed["footer"]["text"]
    assert embed["color"] == 0xD0021B


def test_more_than_25_facts_are_folded_into_the_last_field() -> None:
    values = {f"metric_{i}": float(i) for i in range(60)}
    embed = build_embed(make_alert(1, values=values, kind="custom_signal", direction="up"))
    assert len(embed["fields"]) == FIELDS_LIMIT
    assert embed["fields"][-1]["name"] == "More"
    assert "Metric 22: 22" in embed["fields"][-1]["value"]


def test_a_huge_discord_alert_is_trimmed_to_6000_characters_not_rejected() -> None:
    values = {f"note_{i}": "x" * 500 for i in range(30)}
    alert = make_alert(1, summary="y" * 9000, values=values, kind="custom_signal", direction="up")
    embed = build_embed(alert)
    assert discord_payload_error({"content": "", "embeds": [embed]}) is None
    assert embed_size(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed["description"]) < 4096  # the description gave way
    assert embed["description"].endswith("…")
    assert embed["fields"][0]["name"] == "Asset"
