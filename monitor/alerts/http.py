"""Shared HTTP plumbing of the Slack, webhook and Alertmanager sinks (httpx)."""

from __future__ import annotations

import time

import httpx

from monitor.alerts.base import RejectedAlert
from monitor.alerts.config import HttpTimeouts
from monitor.alerts.policy import retry_after_seconds
from monitor.errors import PermanentDelivery, RetryableDelivery

RETRYABLE_4XX = frozenset({408, 425, 429})
AUTH_REFUSED = frozenset({401, 403})


def make_client(timeouts: HttpTimeouts) -> httpx.AsyncClient:
    """An AsyncClient with separate connect and read timeouts (environment proxies ignored)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect_s, read=timeouts.read_s, write=timeouts.read_s, pool=timeouts.connect_s
        ),
        trust_env=False,
        follow_redirects=False,
    )


async def post(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], what: str
) -> httpx.Response:
    """POST, translating transport failures into RetryableDelivery (the URL is never put in messages)."""
    try:
        return await client.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise RetryableDelivery(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableDelivery(f"{what}: connection failed ({type(exc).__name__}: {exc})") from exc


def short_body(response: httpx.Response, limit: int = 200) -> str:
    """The start of a response body, for error messages."""
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


def raise_for_status(response: httpx.Response, what: str, *, reject: frozenset[int] = frozenset()) -> None:
    """Translate a non-2xx response.

    408/425/429/5xx are retryable, ``reject`` codes reject the alert, any other 4xx is permanent;
    401/403 say so, since no retry fixes a refused credential.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"{what}: HTTP {status} {short_body(response)}".rstrip()
    if status in RETRYABLE_4XX or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("retry-after"), time.time())
        raise RetryableDelivery(detail, retry_after=retry_after)
    if status in reject:
        raise RejectedAlert(detail)
    if status in AUTH_REFUSED:
        raise PermanentDelivery(f"{what}: authentication refused (HTTP {status} {short_body(response)}".rstrip() + ")")
    raise PermanentDelivery(detail)
