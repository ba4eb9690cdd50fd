"""Alert sink settings (``[alerts]``).

Secrets (the Slack webhook URL, HMAC keys, passwords, auth headers) are
:class:`~monitor.config_loader.Secret` fields: they come from their
``LIQMON_ALERTS__...`` environment variable or from ``<name>_file``, never from
the TOML file itself. A sink is enabled by giving its table (``[alerts.slack]``,
``[alerts.webhooks.<name>]``, ``[alerts.mqtt]``, ``[alerts.alertmanager]``),
or by setting its environment variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from monitor.config_loader import Secret
from monitor.redact import mask_url

SeverityName = Literal["info", "warning", "critical"]

_SINK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _check_http_url(url: str, key: str, *, secret: bool = False) -> None:
    """An http(s) URL with a host; the message never shows a secret URL, and masks credentials in others."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "the value is a secret and is not shown" if secret else f"got {mask_url(url)!r}"
        raise ValueError(f"{key} must be an http:// or https:// URL with a host ({shown})")


def _check_positive(obj: object, prefix: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{prefix}.{name} must be positive, got {getattr(obj, name)!r}")


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retry policy of one sink: jittered exponential backoff, ``Retry-After`` honoured."""

    # First retry after about this many seconds; each further retry waits `factor` times longer.
    initial_s: float = 1.0
    factor: float = 2.0
    # Longest wait between two attempts (also the cap on a server's Retry-After).
    max_s: float = 60.0
    # Give up on one alert (dead letter) after retrying it this long.
    give_up_after_s: float = 900.0

    def __post_init__(self) -> None:
        _check_positive(self, "retry", "initial_s", "max_s", "give_up_after_s")
        if self.factor < 1:
            raise ValueError(f"retry.factor must be at least 1, got {self.factor}")


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Separate connect and read timeouts of an HTTP sink (seconds)."""

    connect_s: float = 5.0
    read_s: float = 10.0

    def __post_init__(self) -> None:
        _check_positive(self, "timeouts", "connect_s", "read_s")


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """``[alerts.slack]``: a Slack incoming webhook."""

    # The incoming-webhook URL is the credential: LIQMON_ALERTS__SLACK__WEBHOOK_URL or webhook_url_file.
    webhook_url: Secret | None = None
    min_severity: SeverityName = "info"
    # Slack accepts about one message per second per webhook, with short bursts.
    rate_per_s: float = 1.0
    burst: int = 3
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    # After a permanent error (revoked webhook, archived channel) try again this often.
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        if self.webhook_url is None:
            raise ValueError(
                "alerts.slack needs its webhook URL: set LIQMON_ALERTS__SLACK__WEBHOOK_URL "
                "or alerts.slack.webhook_url_file"
            )
        _check_http_url(self.webhook_url.get(), "alerts.slack.webhook_url", secret=True)
        _check_positive(self, "alerts.slack", "rate_per_s", "burst", "probe_interval_s")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """``[alerts.webhooks.<name>]``: a generic JSON webhook signed with HMAC-SHA256."""

    url: str = ""
    # HMAC key: LIQMON_ALERTS__WEBHOOKS__<NAME>__SECRET or secret_file. Unset = unsigned.
    secret: Secret | None = None
    # Extra headers sent with every request (not secret).
    headers: dict[str, str] = field(default_factory=dict)
    # Value of the Authorization header, when the receiver wants one (secret).
    authorization: Secret | None = None
    min_severity: SeverityName = "info"
    rate_per_s: float = 10.0
    burst: int = 20
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        _check_http_url(self.url, "alerts.webhooks.<name>.url")
        _check_positive(self, "alerts.webhooks.<name>", "rate_per_s", "burst", "probe_interval_s")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """``[alerts.mqtt]``: publish alerts and retained state to an MQTT broker (QoS 1)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    # LIQMON_ALERTS__MQTT__PASSWORD or password_file.
    password: Secret | None = None
    topic_prefix: str = "liqmon"
    # Empty = liqmon-<hostname>-<pid>.
    client_id: str = ""
    keepalive_s: int = 30
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # Skip the broker hostname check (self-signed test brokers only).
    tls_insecure: bool = False
    min_severity: SeverityName = "info"
    # Seconds one publish may wait for the broker (connection + PUBACK) before it is retried.
    publish_timeout_s: float = 10.0
    # Reconnecting to a lost broker: the first wait, doubled (jittered) per failed attempt up to the longest.
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    rate_per_s: float = 50.0
    burst: int = 100
    # While the broker is down, alerts wait and are published once it is back; give up after 1 h.
    retry: RetrySettings = field(default_factory=lambda: RetrySettings(give_up_after_s=3600.0))
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ValueError(f"alerts.mqtt.port must be 1-65535, got {self.port}")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "#+") or self.topic_prefix.endswith("/"):
            raise ValueError(
                f"alerts.mqtt.topic_prefix must be a plain topic without # + or a trailing /, got {self.topic_prefix!r}"
            )
        _check_positive(
            self,
            "alerts.mqtt",
            "keepalive_s",
            "publish_timeout_s",
            "reconnect_initial_s",
            "reconnect_max_s",
            "rate_per_s",
            "burst",
        )
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError(
                f"alerts.mqtt.reconnect_max_s ({self.reconnect_max_s}) must be at least "
                f"reconnect_initial_s ({self.reconnect_initial_s})"
            )


@dataclass(frozen=True, slots=True)
class AlertmanagerSettings:
    """``[alerts.alertmanager]``: push alerts to Prometheus Alertmanager (``/api/v2/alerts``)."""

    # Base URL of Alertmanager, e.g. http://alertmanager:9093
    url: str = ""
    # Firing alerts are re-posted this often with endsAt = now + 4 × this, the way Prometheus does,
    # so they stay active for the whole episode and expire on their own if liqmon stops.
    resend_interval_s: float = 60.0
    # Sent as the generatorURL of every alert (e.g. the Grafana dashboard); empty = none.
    generator_url: str = ""
    # LIQMON_ALERTS__ALERTMANAGER__AUTHORIZATION (e.g. "Bearer ...") or authorization_file.
    authorization: Secret | None = None
    min_severity: SeverityName = "info"
    rate_per_s: float = 20.0
    burst: int = 40
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        _check_http_url(self.url, "alerts.alertmanager.url")
        if self.generator_url:
            _check_http_url(self.generator_url, "alerts.alertmanager.generator_url")
        _check_positive(self, "alerts.alertmanager", "resend_interval_s", "rate_per_s", "burst", "probe_interval_s")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """``[alerts]``."""

    # The console sink prints one line per alert (colour on a terminal, JSON otherwise).
    console: bool = True
    console_min_severity: SeverityName = "info"
    slack: SlackSettings | None = None
    webhooks: dict[str, WebhookSettings] = field(default_factory=dict)
    mqtt: MqttSettings | None = None
    alertmanager: AlertmanagerSettings | None = None
    # Alerts waiting per sink; when a sink's queue is full, new alerts for it are dead-lettered.
    queue_size: int = 1000
    # How long a delivered alert id is remembered (dedup across restarts and re-emitted alerts).
    dedup_ttl_s: float = 172_800.0
    # Alerts read from the bus per batch, and how long one read blocks (ms).
    batch_size: int = 100
    block_ms: int = 1000
    # After stop: seconds to finish in-flight deliveries before giving the rest back to the bus.
    drain_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in self.webhooks:
            if not _SINK_NAME.match(name):
                raise ValueError(f"alerts.webhooks.{name}: webhook names are 1-32 characters of a-z, 0-9, _ and -")
        _check_positive(self, "alerts", "queue_size", "dedup_ttl_s", "batch_size", "block_ms", "drain_timeout_s")
