"""Secrets never appear in messages: configuration errors, check-config output, delivery errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from monitor.alerts.http import post
from monitor.cli import main
from monitor.errors import RetryableDelivery
from tests.support.services import HOST, free_port

SLACK_TOKEN = "T0AAAAAAA/B0BBBBBBB/xoxsecretXXXXXXXXXXXXXX"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "liqmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    "url",
    [
        f"hooks.slack.com/services/{SLACK_TOKEN}",  # scheme forgotten
        f"htps://hooks.slack.com/services/{SLACK_TOKEN}",  # scheme mistyped
        f"https:/hooks.slack.com/services/{SLACK_TOKEN}",  # no host
    ],
)
def test_a_malformed_slack_webhook_url_is_not_printed(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQMON_ALERTS__SLACK__WEBHOOK_URL", url)
    code, output = check_config(write(tmp_path, ""), capsys)
    assert code == 2
    assert "alerts.slack.webhook_url" in output  # names what is wrong
    assert "http:// or https://" in output  # and what it should be
    assert "xoxsecret" not in output
    assert "T0AAAAAAA" not in output


def test_a_malformed_webhook_url_is_shown_with_its_credentials_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[alerts.webhooks.ops]\nurl = "ftp://ops:pa55word@hooks.example/in?token=tok-123"\n')
    code, output = check_config(path, capsys)
    assert code == 2
    assert "ftp://ops:********@hooks.example/in?token=********" in output
    assert "pa55word" not in output
    assert "tok-123" not in output


def test_a_malformed_redis_url_is_shown_with_its_password_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = check_config(write(tmp_path, '[bus]\nredis_url = "http://:hunter2@db:6379/0"\n'), capsys)
    assert code == 2
    assert "bus.redis_url" in output
    assert "hunter2" not in output


def test_check_config_masks_credentials_in_urls_and_secret_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQMON_ALERTS__SLACK__WEBHOOK_URL", f"https://hooks.slack.com/services/{SLACK_TOKEN}")
    monkeypatch.setenv("LIQMON_ALERTS__WEBHOOKS__OPS__AUTHORIZATION", "Bearer bearer-secret")
    path = write(
        tmp_path,
        "[bus]\n"
        'redis_url = "redis://liqmon:hunter2@db:6379/0"\n'
        "[alerts.webhooks.ops]\n"
        'url = "https://ops:pa55word@hooks.example/in?team=risk&api_key=key-123"\n'
        "[alerts.webhooks.ops.headers]\n"
        'X-Api-Key = "header-key-456"\n'
        'X-Team = "risk"\n'
        "[alerts.alertmanager]\n"
        'url = "https://am.example:9443"\n',
    )
    code, output = check_config(path, capsys)
    assert code == 0, output
    for secret in ("hunter2", "pa55word", "key-123", "header-key-456", "bearer-secret", "xoxsecret"):
        assert secret not in output
    # What is not a credential stays readable.
    assert 'redis_url = "redis://liqmon:********@db:6379/0"' in output
    assert 'url = "https://ops:********@hooks.example/in?team=risk&api_key=********"' in output
    assert 'X-Api-Key = "********"' in output
    assert 'X-Team = "risk"' in output
    assert 'url = "https://am.example:9443"' in output


async def test_a_delivery_error_never_quotes_the_url() -> None:
    secret_url = f"http://{HOST}:{free_port()}/services/{SLACK_TOKEN}"  # nothing listens there
    async with httpx.AsyncClient() as client:
        with pytest.raises(RetryableDelivery) as info:
            await post(client, secret_url, content=b"{}", headers={}, what="slack")
    assert str(info.value).startswith("slack: connection failed")
    assert "xoxsecret" not in str(info.value)
