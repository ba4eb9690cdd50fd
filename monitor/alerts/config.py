"""Alert sink settings (``[alerts]``).

Secrets (the Slack webhook URL, HMAC keys, passwords, auth headers) are
:class:`~monitor.config_loader.Secret` fields: they come from their
``LIQMON_ALERTS__...`` environment variable or from ``<name>_file``, never from
the TOML file itself. A sink is enabled by giving its table (``[alerts.slack]``,
``[alerts.webhooks.<name>]``, ``[alerts.mqtt]``, ``[alerts.alertmanager]``,
``[alerts.telegram]``, ``[alerts.discord]``),
or by setting its environment variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from monitor.config_loader import Secret, require_positive
from monitor.redact import mask_url

SeverityName = Literal["info", "warning", "critical"]

_SINK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")


def _check_http_url(url: str, key: str, *, secret: bool = False) -> None:
    """An http(s) URL with a host; the message never shows a secret URL, and masks credentials in others."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "the value is a secret and is not shown" if secret else f"got {mask_url(url)!r}"
        raise ValueError(f"{key} must be an http:// or https:// URL with a host ({shown})")


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
        require_positive(self, "initial_s", "max_s", "give_up_after_s", prefix="retry")
        if self.factor < 1:
            raise ValueError(f"retry.factor must be at least 1, got {self.factor}")


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Separate connect and read timeouts of an HTTP sink (seconds)."""

    # Short: a host that does not accept a connection within this is treated as down at once.
    connect_s: float = 2.0
    read_s: float = 10.0

    def __post_init__(self) -> None:
        require_positive(self, "connect_s", "read_s", prefix="timeouts")


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """``[alerts.slack]``: a Slack incoming webhook."""

    # The incoming-webhook URL is the credential: LIQMON_ALERTS__SLACK__WEBHOOK_URL or webhook_url_file.
    webhook_url: Secret | None = None
    min_severity: SeverityName = "info"
    # Slack accepts about one message per second per webhook, with short bursts.
    rate_per_s: float = 1.0
    burst: int = 3
    # Posts in flight at once; 1 keeps the channel in alert order.
    concurrency: int = 1
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
        require_positive(self, "rate_per_s", "burst", "concurrency", "probe_interval_s", prefix="alerts.slack")


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
    # Requests in flight at once (one episode's alerts still go in order).
    concurrency: int = 4
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        _check_http_url(self.url, "alerts.webhooks.<name>.url")
        require_positive(
            self, "rate_per_s", "burst", "concurrency", "probe_interval_s", prefix="alerts.webhooks.<name>"
        )


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
    # Publishes in flight at once (one episode's alerts still go in order).
    concurrency: int = 4
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
        require_positive(
            self,
            "keepalive_s",
            "publish_timeout_s",
            "reconnect_initial_s",
            "reconnect_max_s",
            "rate_per_s",
            "burst",
            "concurrency",
            prefix="alerts.mqtt",
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
    # Requests in flight at once (one episode's alerts still go in order).
    concurrency: int = 2
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        _check_http_url(self.url, "alerts.alertmanager.url")
        if self.generator_url:
            _check_http_url(self.generator_url, "alerts.alertmanager.generator_url")
        require_positive(
            self,
            "resend_interval_s",
            "rate_per_s",
            "burst",
            "concurrency",
            "probe_interval_s",
            prefix="alerts.alertmanager",
        )


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """``[alerts.telegram]``: a Telegram bot posting to one chat (Bot API ``sendMessage``)."""

    # The bot token (from @BotFather) is the credential: LIQMON_ALERTS__TELEGRAM__BOT_TOKEN or bot_token_file.
    bot_token: Secret | None = None
    # Numeric chat id (groups and channels are negative, e.g. -1001234567890) or @channelusername.
    chat_id: str = ""
    # Base URL of the Bot API (a self-hosted Bot API server, or a local test server).
    api_url: str = "https://api.telegram.org"
    min_severity: SeverityName = "info"
    # Telegram allows about one message per second per chat (20 per minute in groups).
    rate_per_s: float = 1.0
    burst: int = 1
    # Messages in flight at once; 1 keeps the chat in alert order.
    concurrency: int = 1
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    # A 429 names how long the whole bot must wait (retry_after); waits up to max_s are honoured in full.
    retry: RetrySettings = field(default_factory=lambda: RetrySettings(max_s=300.0))
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        if self.bot_token is None:
            raise ValueError(
                "alerts.telegram needs its bot token: set LIQMON_ALERTS__TELEGRAM__BOT_TOKEN "
                "or alerts.telegram.bot_token_file"
            )
        if not _CHAT_ID.match(self.chat_id):
            raise ValueError(
                f"alerts.telegram.chat_id must be a numeric chat id (e.g. -1001234567890) or @channelname, "
                f"got {self.chat_id!r}"
            )
        _check_http_url(self.api_url, "alerts.telegram.api_url")
        require_positive(self, "rate_per_s", "burst", "concurrency", "probe_interval_s", prefix="alerts.telegram")


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """``[alerts.discord]``: a Discord channel webhook (embeds)."""

    # The webhook URL holds its token: LIQMON_ALERTS__DISCORD__WEBHOOK_URL or webhook_url_file.
    webhook_url: Secret | None = None
    # Name shown as the message author.
    username: str = "liqmon"
    min_severity: SeverityName = "info"
    # Discord allows about 5 requests per 2 s per webhook; it says so in X-RateLimit-* headers too.
    rate_per_s: float = 1.0
    burst: int = 3
    # Messages in flight at once; 1 keeps the channel in alert order.
    concurrency: int = 1
    timeouts: HttpTimeouts = field(default_factory=HttpTimeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    probe_interval_s: float = 300.0

    def __post_init__(self) -> None:
        if self.webhook_url is None:
            raise ValueError(
                "alerts.discord needs its webhook URL: set LIQMON_ALERTS__DISCORD__WEBHOOK_URL "
                "or alerts.discord.webhook_url_file"
            )
        _check_http_url(self.webhook_url.get(), "alerts.discord.webhook_url", secret=True)
        if not 1 <= len(self.username) <= 80:
            raise ValueError(f"alerts.discord.username must be 1-80 characters, got {self.username!r}")
        require_positive(self, "rate_per_s", "burst", "concurrency", "probe_interval_s", prefix="alerts.discord")


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
    telegram: TelegramSettings | None = None
    discord: DiscordSettings | None = None
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
        require_positive(
            self, "queue_size", "dedup_ttl_s", "batch_size", "block_ms", "drain_timeout_s", prefix="alerts"
        )
