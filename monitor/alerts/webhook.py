"""Generic JSON webhook sink, signed with HMAC-SHA256.

The body is the alert JSON of DESIGN §7. With a secret configured, each
request carries::

    X-Liqmon-Timestamp: <unix seconds>
    X-Liqmon-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

Receivers recompute the HMAC over the raw body, compare in constant time and
reject timestamps outside a few minutes (replay protection); see
docs/alerts.md. Any 4xx other than 408/425/429 means the receiver will never
accept our requests (wrong URL, auth, signature), so it breaks the sink.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Final

import httpx

from monitor.alert import Alert, encode_alert
from monitor.alerts.config import SeverityName, WebhookSettings
from monitor.alerts.http import make_client, post, raise_for_status
from monitor.errors import PermanentDelivery

TIMESTAMP_HEADER: Final = "X-Liqmon-Timestamp"
SIGNATURE_HEADER: Final = "X-Liqmon-Signature"
ID_HEADER: Final = "X-Liqmon-Alert-Id"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, header: str, *, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: constant-time compare and a bounded timestamp skew."""
    try:
        skew = abs(now - int(timestamp))
    except ValueError:
        return False
    return skew <= tolerance_s and hmac.compare_digest(signature(secret, timestamp, body), header)


def signed_headers(secret: bytes | None, body: bytes, now: float) -> dict[str, str]:
    """The timestamp and signature headers (none when no secret is configured)."""
    if secret is None:
        return {}
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


class WebhookSink:
    """POSTs the alert JSON to one URL."""

    def __init__(self, name: str, settings: WebhookSettings, *, client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self._key = name.removeprefix("webhook:")
        self.min_severity: SeverityName = settings.min_severity
        self._url = settings.url
        self._secret = settings.secret.get().encode() if settings.secret is not None else None
        self._headers = dict(settings.headers)
        if settings.authorization is not None:
            self._headers["Authorization"] = settings.authorization.get()
        self._client = client or make_client(settings.timeouts)

    async def send(self, alert: Alert) -> None:
        """POST the signed alert; any 2xx is success."""
        body = encode_alert(alert)
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            ID_HEADER: alert.id,
            **signed_headers(self._secret, body, time.time()),
        }
        response = await post(self._client, self._url, content=body, headers=headers, what=self.name)
        try:
            raise_for_status(response, f"webhook {self.name}")
        except PermanentDelivery as exc:
            raise PermanentDelivery(
                f"{exc}; the receiver refuses our requests: check alerts.webhooks.{self._key}.url, its secret "
                f"and headers"
            ) from None

    async def run(self, stop: asyncio.Event) -> None:
        """No background work."""
        await stop.wait()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
