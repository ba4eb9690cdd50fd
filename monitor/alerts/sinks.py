"""Build the configured sinks and their delivery policies from ``[alerts]``."""

from __future__ import annotations

from monitor.alerts.alertmanager import AlertmanagerSink
from monitor.alerts.base import Sink
from monitor.alerts.config import AlertSettings, RetrySettings
from monitor.alerts.console import ConsoleSink
from monitor.alerts.mqtt import MqttSink
from monitor.alerts.slack import SlackSink
from monitor.alerts.webhook import WebhookSink
from monitor.alerts.worker import SinkPolicy

# The console cannot fail in a way a retry would fix; keep it simple and unthrottled.
CONSOLE_POLICY = SinkPolicy(
    rate_per_s=1000.0, burst=1000, retry=RetrySettings(give_up_after_s=5.0), probe_interval_s=60.0
)


def build_sinks(settings: AlertSettings) -> list[tuple[Sink, SinkPolicy]]:
    """Every enabled sink with its policy, in a stable order (console, slack, webhooks, mqtt, alertmanager)."""
    out: list[tuple[Sink, SinkPolicy]] = []
    if settings.console:
        out.append((ConsoleSink(min_severity=settings.console_min_severity), CONSOLE_POLICY))
    if settings.slack is not None:
        s = settings.slack
        out.append((SlackSink(s), SinkPolicy(s.rate_per_s, s.burst, s.retry, s.probe_interval_s)))
    for name, w in sorted(settings.webhooks.items()):
        out.append((WebhookSink(f"webhook:{name}", w), SinkPolicy(w.rate_per_s, w.burst, w.retry, w.probe_interval_s)))
    if settings.mqtt is not None:
        m = settings.mqtt
        out.append((MqttSink(m), SinkPolicy(m.rate_per_s, m.burst, m.retry, m.probe_interval_s)))
    if settings.alertmanager is not None:
        a = settings.alertmanager
        out.append((AlertmanagerSink(a), SinkPolicy(a.rate_per_s, a.burst, a.retry, a.probe_interval_s)))
    return out
