"""``[alerts]`` through the strict settings loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config_loader import Secret
from monitor.errors import ConfigError
from monitor.settings import load_settings


def _load(tmp_path: Path, toml: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    file = tmp_path / "liqmon.toml"
    file.write_text(toml, encoding="utf-8")
    return load_settings(file, environ=env or {})


def test_defaults_have_only_the_console() -> None:
    alerts = load_settings(None, environ={}).alerts
    assert alerts.console is True
    assert alerts.slack is None
    assert alerts.mqtt is None
    assert alerts.alertmanager is None
    assert alerts.webhooks == {}


def test_slack_url_comes_from_the_environment_and_is_masked(tmp_path: Path) -> None:
    url = "https://hooks.slack.com/services/T0/B0/xyz"
    alerts = _load(tmp_path, "[alerts.slack]\nrate_per_s = 0.5\n", {"LIQMON_ALERTS__SLACK__WEBHOOK_URL": url}).alerts
    assert alerts.slack is not None
    assert alerts.slack.webhook_url == Secret(url)
    assert alerts.slack.rate_per_s == 0.5
    assert url not in repr(alerts)


def test_slack_enabled_by_environment_alone() -> None:
    env = {"LIQMON_ALERTS__SLACK__WEBHOOK_URL": "https://hooks.slack.com/services/T/B/c"}
    assert load_settings(None, environ=env).alerts.slack is not None


def test_secret_written_in_the_file_is_refused_with_the_variable_to_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LIQMON_ALERTS__SLACK__WEBHOOK_URL"):
        _load(tmp_path, '[alerts.slack]\nwebhook_url = "https://hooks.slack.com/services/x"\n')


def test_slack_table_without_url_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="webhook_url_file"):
        _load(tmp_path, "[alerts.slack]\n")


def test_named_webhooks_with_secret_file_and_headers(tmp_path: Path) -> None:
    secret = tmp_path / "hmac.key"
    secret.write_text("k3y\n", encoding="utf-8")
    alerts = _load(
        tmp_path,
        f'[alerts.webhooks.ops]\nurl = "https://ops.example/hook"\nsecret_file = "{secret}"\n'
        '[alerts.webhooks.ops.headers]\nX-Team = "risk"\n'
        "[alerts.webhooks.ops.timeouts]\nconnect_s = 2.0\nread_s = 4.0\n"
        '[alerts.webhooks.archive]\nurl = "http://10.0.0.5:8080/in"\n',
    ).alerts
    assert sorted(alerts.webhooks) == ["archive", "ops"]
    ops = alerts.webhooks["ops"]
    assert ops.secret == Secret("k3y")
    assert ops.headers == {"X-Team": "risk"}
    assert (ops.timeouts.connect_s, ops.timeouts.read_s) == (2.0, 4.0)
    assert alerts.webhooks["archive"].secret is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[alerts.webhooks.ops]\nurl = "ftp://x"\n', "http:// or https://"),
        ('[alerts.webhooks."Bad Name"]\nurl = "http://x"\n', "webhook names"),
        ("[alerts.mqtt]\nport = 0\n", "alerts.mqtt.port"),
        ('[alerts.mqtt]\ntopic_prefix = "a/#"\n', "topic_prefix"),
        ("[alerts.mqtt]\nreconnect_initial_s = 0\n", "alerts.mqtt.reconnect_initial_s must be positive"),
        ("[alerts.mqtt]\nreconnect_initial_s = 5\nreconnect_max_s = 1\n", "reconnect_max_s .1.0. must be at least"),
        ("[alerts]\nqueue_size = 0\n", "alerts.queue_size"),
        ("[alerts]\nconsole = 1\n", "alerts.console"),
        ("[alerts]\nsinks = []\n", "alerts.sinks: unknown setting"),
        ('[alerts.alertmanager]\nurl = "http://am:9093"\nretry = { factor = 0.5 }\n', "retry.factor"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, toml)


def test_mqtt_password_from_environment(tmp_path: Path) -> None:
    alerts = _load(
        tmp_path, '[alerts.mqtt]\nhost = "broker"\nusername = "liqmon"\n', {"LIQMON_ALERTS__MQTT__PASSWORD": "pw"}
    ).alerts
    assert alerts.mqtt is not None
    assert alerts.mqtt.password == Secret("pw")
    assert alerts.mqtt.retry.give_up_after_s == 3600.0
