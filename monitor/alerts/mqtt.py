"""MQTT sink (aiomqtt 2.x): alert events at QoS 1 plus a retained current state.

Topics, under ``topic_prefix`` (default ``liqmon``):

* ``{prefix}/alerts/{kind}/{base}`` — every alert, QoS 1, not retained;
* ``{prefix}/state/{kind}/{base}/{direction}`` — the latest alert of that
  kind, asset and direction, QoS 1, retained (late subscribers see the
  current state; a long and a short cascade of one asset do not overwrite
  each other);
* ``{prefix}/status`` — ``online`` (retained) after connecting, ``offline``
  (retained) as the last will and on a clean stop.

The connection is kept by :meth:`MqttSink.run`, which reconnects with capped,
jittered backoff. While the broker is away, :meth:`MqttSink.send` raises a
retryable error, so alerts stay in the sink's queue in the dispatcher (the
outbox) and in the bus, and are published in order once the broker is back.
A broker that refuses our credentials (CONNACK "bad username or password" or
"not authorized") breaks the sink instead: :meth:`MqttSink.send` then fails at
once with a message saying so, and no alert waits for a retry that cannot
help. QoS 1 means a subscriber may see an alert twice; the ``id`` field dedups.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
from typing import Final

import aiomqtt

from monitor.aio import sleep_or_stop
from monitor.alert import Alert, encode_alert
from monitor.alerts.config import MqttSettings, RetrySettings, SeverityName
from monitor.alerts.policy import backoff
from monitor.errors import PermanentDelivery, RetryableDelivery
from monitor.logs import get_logger

log = get_logger(__name__)

ONLINE: Final = b"online"
OFFLINE: Final = b"offline"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# CONNACK refusals no retry fixes: MQTT 3.1.1 return codes 4 and 5, MQTT 5 reason codes 134 and 135.
CREDENTIALS_REFUSED: Final = frozenset({4, 5, 134, 135})


def refused_credentials(exc: aiomqtt.MqttError) -> bool:
    """True when the broker refused the connection for bad credentials or missing authorization."""
    if not isinstance(exc, aiomqtt.MqttCodeError):
        return False
    return getattr(exc.rc, "value", exc.rc) in CREDENTIALS_REFUSED


def topic_part(text: str) -> str:
    """A safe single topic level (no ``/``, ``+``, ``#`` or spaces)."""
    return _UNSAFE.sub("_", text) or "_"


def alert_topic(prefix: str, alert: Alert) -> str:
    """``{prefix}/alerts/{kind}/{base}``."""
    return f"{prefix}/alerts/{topic_part(alert.kind)}/{topic_part(alert.base)}"


def state_topic(prefix: str, alert: Alert) -> str:
    """``{prefix}/state/{kind}/{base}/{direction}`` (retained)."""
    return f"{prefix}/state/{topic_part(alert.kind)}/{topic_part(alert.base)}/{topic_part(alert.direction)}"


def status_topic(prefix: str) -> str:
    """``{prefix}/status``: online / offline, retained."""
    return f"{prefix}/status"


class MqttSink:
    """Publishes alerts to one broker over a connection kept by :meth:`run`."""

    def __init__(self, settings: MqttSettings, *, name: str = "mqtt") -> None:
        self.name = name
        self.min_severity: SeverityName = settings.min_severity
        self._settings = settings
        self._prefix = settings.topic_prefix
        # give_up_after_s is unused here: the sink reconnects until it is stopped.
        self._reconnect = RetrySettings(
            initial_s=settings.reconnect_initial_s, max_s=settings.reconnect_max_s, give_up_after_s=1.0
        )
        self._client: aiomqtt.Client | None = None
        self._status = asyncio.Condition()  # notified when connected, or when the broker refuses us
        self.broken: str | None = None
        self.connections = 0

    def _make_client(self) -> aiomqtt.Client:
        s = self._settings
        tls_params = None
        if s.tls:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file, cert_reqs=ssl.CERT_REQUIRED
            )
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password.get() if s.password is not None else None,
            identifier=s.client_id or f"liqmon-{socket.gethostname()}-{os.getpid()}",
            will=aiomqtt.Will(status_topic(self._prefix), OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=s.publish_timeout_s,
            tls_params=tls_params,
            tls_insecure=s.tls_insecure if s.tls else None,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, announce ``online``, hold the connection; reconnect with backoff until ``stop``."""
        delays = backoff(self._reconnect)
        where = f"{self._settings.host}:{self._settings.port}"
        while not stop.is_set():
            client = self._make_client()
            try:
                async with client:
                    await client.publish(status_topic(self._prefix), ONLINE, qos=1, retain=True)
                    await self._set(client, None)
                    self.connections += 1
                    delays = backoff(self._reconnect)
                    log.info("mqtt_connected", sink=self.name, broker=where)
                    await self._hold(client, stop)
                    if stop.is_set():
                        self._client = None
                        with contextlib.suppress(aiomqtt.MqttError):
                            await client.publish(status_topic(self._prefix), OFFLINE, qos=1, retain=True, timeout=2)
            except aiomqtt.MqttError as exc:
                if refused_credentials(exc):
                    reason = (
                        f"{self.name}: broker {where} refused our credentials ({exc}): check alerts.mqtt.username "
                        f"and LIQMON_ALERTS__MQTT__PASSWORD, and the broker's ACL"
                    )
                    if self.broken is None:
                        log.error(
                            "mqtt_credentials_refused",
                            sink=self.name,
                            error=reason,
                            hint="the sink is broken until they are fixed",
                        )
                    await self._set(None, reason)
                else:
                    log.warning(
                        "mqtt_broker_unreachable",
                        sink=self.name,
                        broker=where,
                        error=str(exc),
                        hint="alerts wait until it is back",
                    )
            finally:
                self._client = None
            if not stop.is_set():
                await sleep_or_stop(stop, next(delays))

    async def _set(self, client: aiomqtt.Client | None, broken: str | None) -> None:
        async with self._status:
            self._client = client
            self.broken = broken
            self._status.notify_all()

    @staticmethod
    async def _hold(client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """Return when ``stop`` is set; raise MqttError when the connection drops."""

        async def watch() -> None:
            async for _ in client.messages:  # nothing is subscribed: this only ends on disconnect
                pass

        watcher = asyncio.create_task(watch())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((watcher, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, stopper):
                task.cancel()
            await asyncio.gather(watcher, stopper, return_exceptions=True)
        if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
            raise watcher.exception()  # type: ignore[misc]

    async def send(self, alert: Alert) -> None:
        """Publish the alert (QoS 1) and the retained state; retryable while the broker is away."""
        client = await self._connection()
        payload = encode_alert(alert)
        timeout = self._settings.publish_timeout_s
        try:
            await client.publish(alert_topic(self._prefix, alert), payload, qos=1, timeout=timeout)
            await client.publish(state_topic(self._prefix, alert), payload, qos=1, retain=True, timeout=timeout)
        except aiomqtt.MqttError as exc:
            raise RetryableDelivery(f"{self.name}: publish failed: {exc}") from exc

    async def withdraw(self, alert: Alert) -> None:
        """Delete the retained state ``alert`` left (an empty retained payload), e.g. after ``alert test``."""
        client = await self._connection()
        try:
            await client.publish(
                state_topic(self._prefix, alert), b"", qos=1, retain=True, timeout=self._settings.publish_timeout_s
            )
        except aiomqtt.MqttError as exc:
            raise RetryableDelivery(f"{self.name}: publish failed: {exc}") from exc

    async def _connection(self) -> aiomqtt.Client:
        """The connected client; PermanentDelivery when the broker refuses us, retryable when it is away."""
        try:
            async with asyncio.timeout(self._settings.publish_timeout_s), self._status:
                await self._status.wait_for(lambda: self._client is not None or self.broken is not None)
        except TimeoutError:
            raise RetryableDelivery(f"{self.name}: broker not connected") from None
        if self.broken is not None:
            raise PermanentDelivery(self.broken)
        if self._client is None:
            raise RetryableDelivery(f"{self.name}: broker connection lost")
        return self._client

    async def aclose(self) -> None:
        """The connection is closed by :meth:`run` when its stop is set."""
