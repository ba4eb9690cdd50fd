"""`liqmon alert test`: a marked test alert through the configured sinks, one result line per sink."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest

from tests.integration.alerts.chat_apis import FakeDiscord, FakeTelegram
from tests.integration.alerts.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.integration


async def _liqmon(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMON_")} | env
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_reports_each_sink_and_fails_when_one_is_broken(tmp_path: Path) -> None:
    async with (
        HttpReceiver(lambda _r: Reply(200, b"ok")) as slack,
        HttpReceiver(lambda _r: Reply(404, b"no such hook")) as hook,
    ):
        config = tmp_path / "liqmon.toml"
        config.write_text(f'[alerts]\nconsole = false\n[alerts.webhooks.ops]\nurl = "{hook.url}/x"\n', encoding="utf-8")
        env = {"LIQMON_ALERTS__SLACK__WEBHOOK_URL": f"{slack.url}/services/T/B/c"}
        code, out, _ = await _liqmon("alert", "test", "--config", str(config), env=env)
        assert code == 1
        lines = out.strip().splitlines()
        assert lines[0].split() == ["slack", "ok"]
        assert lines[1].startswith("webhook:ops  error  PermanentDelivery: webhook webhook:ops: HTTP 404")
        body = orjson.loads(slack.requests[0].body)
        assert "test alert" in body["text"]
        assert "no action needed" in body["text"]
        assert orjson.loads(hook.requests[0].body)["kind"] == "test"

        code, out, _ = await _liqmon("alert", "test", "--sink", "slack", "--config", str(config), env=env)
        assert (code, out.split()) == (0, ["slack", "ok"])
        assert len(slack.requests) == 2
        assert len(hook.requests) == 1

        code, _, err = await _liqmon("alert", "test", "--sink", "pager", "--config", str(config), env=env)
        assert code == 2
        assert "no sink named 'pager' (configured: slack, webhook:ops)" in err


async def test_dispatcher_role_needs_redis(tmp_path: Path) -> None:
    code, _, err = await _liqmon("alert", env={})
    assert code == 2
    assert "bus.redis_url" in err


async def test_telegram_and_discord_by_name_and_their_secrets_stay_masked(tmp_path: Path) -> None:
    token, hook = "123456:ABC-secret-token", "77/secret-hook-token"
    telegram_api, discord_api = FakeTelegram(token), FakeDiscord(hook)
    async with HttpReceiver(telegram_api) as tg, HttpReceiver(discord_api) as dc:
        token_file = tmp_path / "bot_token"
        token_file.write_text(token + "\n", encoding="utf-8")
        config = tmp_path / "liqmon.toml"
        config.write_text(
            f'[alerts]\nconsole = false\n[alerts.telegram]\nchat_id = "-1001"\napi_url = "{tg.url}"\n'
            f'bot_token_file = "{token_file}"\n',
            encoding="utf-8",
        )
        env = {"LIQMON_ALERTS__DISCORD__WEBHOOK_URL": f"{dc.url}/api/webhooks/{hook}"}
        for sink in ("telegram", "discord"):
            code, out, _ = await _liqmon("alert", "test", "--sink", sink, "--config", str(config), env=env)
            assert (code, out.split()) == (0, [sink, "ok"])
        [message] = telegram_api.accepted
        assert "Test alert" in message["text"]
        assert "no action needed" in message["text"]
        [payload] = discord_api.accepted
        assert payload["embeds"][0]["footer"]["text"].startswith("test · up · info")

        code, out, _ = await _liqmon("check-config", "--config", str(config), env=env)
        assert code == 0
        assert token not in out
        assert "secret-hook-token" not in out
