"""Settings: strict TOML + LIQMON_* loading, secrets kept out of logs and repr, check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config_loader import Secret
from monitor.errors import ConfigError
from monitor.settings import describe, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "liqmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings(environ={})
    assert settings.bus.redis_url is None
    assert not settings.bus.redis_enabled
    assert not 9090 <= settings.metrics.port <= 9999


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nredis_url = "redis://127.0.0.1:7000/0"\nshard_count = 4\n')
    settings = load_settings(path, environ={})
    assert settings.bus.shard_count == 4
    assert settings.bus.redis_enabled


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[bus]\nshards = 4\n", r"bus.shards: unknown setting"),
        ("[buss]\n", r"buss: unknown setting"),
        ('[bus]\nshard_count = "four"\n', r"bus.shard_count: expected an integer, got 'four'"),
        ("[bus]\nshard_count = 0\n", r"bus.shard_count must be between 1 and 1024"),
        ('[log]\nlevel = "loud"\n', r"log.level: must be one of 'debug', 'info', 'warning', 'error', got 'loud'"),
        ('[bus]\nredis_url = "http://x"\n', r"bus.redis_url must start with redis://"),
        ("[metrics]\nport = 70000\n", r"metrics.port must be 0-65535"),
        ("[app]\nfeed_down_after_s = 0\n", r"app\.feed_down_after_s must be positive, got 0"),
        ('[venues.binance]\nsymbols = "BTCUSDT"\n', r"venues.binance.symbols: expected a list"),
        ("[bus\n", r"not valid TOML"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, toml), environ={})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(tmp_path / "absent.toml", environ={})


class TestEnvironment:
    def test_overrides_are_typed(self) -> None:
        settings = load_settings(
            environ={
                "LIQMON_BUS__SHARD_COUNT": "16",
                "LIQMON_BUS__CLUSTER": "true",
                "LIQMON_BUS__RETENTION_HOURS": "6.5",
                "LIQMON_VENUES__BINANCE__SYMBOLS": "BTCUSDT, ETHUSDT",
                "LIQMON_VENUES__OKX__ENABLED": "no",
            }
        )
        assert settings.bus.shard_count == 16
        assert settings.bus.cluster is True
        assert settings.bus.retention_hours == 6.5
        assert settings.venues.binance.symbols == ("BTCUSDT", "ETHUSDT")
        assert settings.venues.okx.enabled is False

    def test_environment_wins_over_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[bus]\nshard_count = 4\n")
        assert load_settings(path, environ={"LIQMON_BUS__SHARD_COUNT": "2"}).bus.shard_count == 2

    def test_config_file_from_environment(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[bus]\nshard_count = 3\n")
        assert load_settings(environ={"LIQMON_CONFIG": str(path)}).bus.shard_count == 3

    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"LIQMON_BUS__SHARDS": "3"}, r"LIQMON_BUS__SHARDS: unknown setting 'shards' under bus"),
            ({"LIQMON_BUS__SHARD_COUNT": "many"}, r"from LIQMON_BUS__SHARD_COUNT"),
            ({"LIQMON_BUS__CLUSTER": "maybe"}, r"bus.cluster: expected true or false"),
            ({"LIQMON_NOPE": "1"}, r"unknown setting 'nope' under the top level"),
        ],
    )
    def test_bad_overrides_name_the_variable(self, env: dict[str, str], message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            load_settings(environ=env)


class TestSecrets:
    def test_secret_cannot_be_written_in_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, '[bus]\nredis_password = "hunter2"\n')
        with pytest.raises(ConfigError, match=r"LIQMON_BUS__REDIS_PASSWORD or bus\.redis_password_file"):
            load_settings(path, environ={})

    def test_secret_from_environment_never_shows(self) -> None:
        settings = load_settings(
            environ={"LIQMON_BUS__REDIS_PASSWORD": "hunter2", "LIQMON_BUS__REDIS_URL": "redis://:urlpass@h:1/0"}
        )
        assert isinstance(settings.bus.redis_password, Secret)
        assert settings.bus.redis_password.get() == "hunter2"
        for text in (repr(settings), str(settings), describe(settings)):
            assert "hunter2" not in text
            assert "urlpass" not in text
        assert "redis://:********@h:1/0" in describe(settings)

    def test_secret_from_file(self, tmp_path: Path) -> None:
        secret = tmp_path / "pw"
        secret.write_text("s3cret\n", encoding="utf-8")
        path = write(tmp_path, f'[bus]\nredis_password_file = "{secret}"\n')
        settings = load_settings(path, environ={})
        assert settings.bus.redis_password is not None
        assert settings.bus.redis_password.get() == "s3cret"

    def test_unreadable_secret_file(self, tmp_path: Path) -> None:
        path = write(tmp_path, f'[bus]\nredis_password_file = "{tmp_path / "absent"}"\n')
        with pytest.raises(ConfigError, match=r"bus\.redis_password_file: cannot read secret file"):
            load_settings(path, environ={})


class TestCheckConfigCommand:
    def test_prints_effective_configuration_masked(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("LIQMON_BUS__REDIS_PASSWORD", "hunter2")
        path = write(tmp_path, "[bus]\nshard_count = 5\n")
        assert main(["check-config", str(path)]) == 0
        out = capsys.readouterr().out
        assert "shard_count = 5" in out
        assert 'redis_password = "********"' in out
        assert "hunter2" not in out

    def test_exits_2_naming_the_key(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = write(tmp_path, "[bus]\nshard_count = -1\n")
        assert main(["check-config", str(path)]) == 2
        assert "bus.shard_count" in capsys.readouterr().err
