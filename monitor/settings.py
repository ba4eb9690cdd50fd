"""liqmon settings: one TOML file plus ``LIQMON_*`` overrides, validated at start-up.

The file is found from ``--config``, else ``$LIQMON_CONFIG``, else none (all
defaults: the embedded, Redis-less mode). See ``liqmon.example.toml`` for every
key. Loading rules are in :mod:`monitor.config_loader`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from monitor.alerts.config import AlertSettings
from monitor.config_loader import Secret, apply_env, build, render, require_positive
from monitor.detectors.config import DetectorSettings
from monitor.errors import ConfigError
from monitor.metrics import DEFAULT_ASSETS
from monitor.redact import mask_url
from monitor.venues.config import VenuesSettings


@dataclass(frozen=True, slots=True)
class LogSettings:
    """``[log]``."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: readable on a terminal, JSON lines otherwise.
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True, slots=True)
class BusSettings:
    """``[bus]``: Redis Streams when ``redis_url`` is set, the in-memory bus otherwise."""

    # redis://host:port/db or rediss:// for TLS; unset = embedded in-memory bus.
    redis_url: str | None = field(default=None, repr=False)
    # Password for Redis (from LIQMON_BUS__REDIS_PASSWORD or redis_password_file).
    redis_password: Secret | None = None
    # Set true for Redis Cluster (uses redis.asyncio.cluster; stream keys carry {N} hash tags).
    cluster: bool = False
    key_prefix: str = "liqmon"
    shard_count: int = 8
    # Events older than this are trimmed from the streams (MINID ~); enough to rebuild detector state.
    retention_hours: float = 24.0
    # Events held in memory while Redis is unreachable; beyond this they are dropped and counted.
    buffer_max_events: int = 200_000
    # Events per write: one pipelined XADD per shard entry (entries hold at most 256 events or 64 KiB).
    batch_size: int = 4096
    # How long the first event of a quiet spell waits for others before an entry is written (ms).
    linger_ms: float = 2.0
    # XREADGROUP BLOCK, kept well below the client's socket timeout.
    block_ms: int = 1000
    # Entries pending this long on a consumer are claimed by another (XAUTOCLAIM).
    claim_idle_ms: int = 30_000
    # Consumer name within the groups; empty = hostname-pid.
    consumer_name: str = ""

    def __post_init__(self) -> None:
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"bus.redis_url must start with redis://, rediss:// or unix://, got {mask_url(self.redis_url)!r}"
            )
        if self.shard_count < 1 or self.shard_count > 1024:
            raise ValueError(f"bus.shard_count must be between 1 and 1024, got {self.shard_count}")
        require_positive(
            self, "retention_hours", "buffer_max_events", "batch_size", "block_ms", "claim_idle_ms", prefix="bus"
        )
        if not 0 <= self.linger_ms <= 1000:
            raise ValueError(f"bus.linger_ms must be between 0 and 1000, got {self.linger_ms}")

    @property
    def redis_enabled(self) -> bool:
        """True when a Redis URL is configured."""
        return self.redis_url is not None


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``[metrics]``: the Prometheus endpoint (/metrics, /healthz, /readyz)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    # Outside the 9090-9999 range Prometheus exporters conventionally claim.
    port: int = 8787
    # Assets that get their own `base` label; everything else is reported as "other".
    assets: tuple[str, ...] = DEFAULT_ASSETS

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"metrics.port must be 0-65535, got {self.port}")


@dataclass(frozen=True, slots=True)
class AppSettings:
    """``[app]``: process lifecycle."""

    # After SIGTERM/SIGINT: seconds to drain buffers and in-flight work before exiting.
    shutdown_timeout_s: float = 10.0
    # A configured venue with no data for this long (or its liveness timeout, if longer) raises a
    # feed_down alert, also when it never connected at all.
    feed_down_after_s: float = 60.0

    def __post_init__(self) -> None:
        require_positive(self, "feed_down_after_s", prefix="app")


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration."""

    app: AppSettings = field(default_factory=AppSettings)
    log: LogSettings = field(default_factory=LogSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    venues: VenuesSettings = field(default_factory=VenuesSettings)
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)


def config_path(explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to use: ``explicit``, else ``$LIQMON_CONFIG``, else none."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get("LIQMON_CONFIG")
    return Path(chosen).expanduser() if chosen else None


def load_settings(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration; raises ConfigError naming the bad key."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file = config_path(path, environ)
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {file}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {file} is not valid TOML: {exc}") from None
    data = apply_env(Settings, data, environ)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return build(Settings, data)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a table")
    node[parts[-1]] = value


def describe(settings: Settings) -> str:
    """The effective configuration as TOML, secrets and credentials inside URLs and headers masked."""
    return render(settings)
