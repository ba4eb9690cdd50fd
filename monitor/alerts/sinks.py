"""Build the configured sinks and their delivery policies from ``[alerts]``."""

from __future__ import annotations

from typing import Protocol

from monitor.alerts.alertmanager import AlertmanagerSink
from monitor.alerts.base import Sink
from monitor.alerts.config import AlertSettings, RetrySettings
from monitor.alerts.console import ConsoleSink
from monitor.alerts.discord import DiscordSink
from monitor.alerts.mqtt import MqttSink
from monitor.alerts.slack import SlackSink
from monitor.alerts.telegram import TelegramSink
from monitor.alerts.webhook import WebhookSink
from monitor.alerts.worker import SinkPolicy

# The console cannot fail in a way a retry would fix; keep it simple and unthrottled.
CONSOLE_POLICY = SinkPolicy(
    rate_per_s=1000.0, burst=1000, retry=RetrySettings(give_up_after_s=5.0), probe_interval_s=60.0
)


class _Delivery(Protocol):
    """The delivery settings every remote sink's table has."""

    @property
    def rate_per_s(self) -> float: ...
    @property
    def burst(self) -> int: ...
    @property
    def retry(self) -> RetrySettings: ...
    @property
    def probe_interval_s(self) -> float: ...
    @property
    def concurrency(self) -> int: ...


def policy_of(settings: _Delivery) -> SinkPolicy:
    """A sink's policy from its settings table."""
    return SinkPolicy(
        settings.rate_per_s, settings.burst, settings.retry, settings.probe_interval_s, settings.concurrency
    )


def build_sinks(settings: AlertSettings) -> list[tuple[Sink, SinkPolicy]]:
    """Every enabled sink with its policy, in a stable order (console, slack, telegram, discord, webhooks, mqtt,
    alertmanager)."""
    out: list[tuple[Sink, SinkPolicy]] = []
    if settings.console:
        out.append((ConsoleSink(min_severity=settings.console_min_severity), CONSOLE_POLICY))
    if settings.slack is not None:
        out.append((SlackSink(settings.slack), policy_of(settings.slack)))
    if settings.telegram is not None:
        out.append((TelegramSink(settings.telegram), policy_of(settings.telegram)))
    if settings.discord is not None:
        out.append((DiscordSink(settings.discord), policy_of(settings.discord)))
    for name, w in sorted(settings.webhooks.items()):
        out.append((WebhookSink(f"webhook:{name}", w), policy_of(w)))
    if settings.mqtt is not None:
        out.append((MqttSink(settings.mqtt), policy_of(settings.mqtt)))
    if settings.alertmanager is not None:
        out.append((AlertmanagerSink(settings.alertmanager), policy_of(settings.alertmanager)))
    return out
