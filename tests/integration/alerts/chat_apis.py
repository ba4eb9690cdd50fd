"""Local stand-ins for the Telegram Bot API and Discord webhooks: their request and answer shapes,
their length limits, their rate limits, and a flood window answered with 429 + ``retry_after``.

Responders for :class:`tests.integration.alerts.http_receiver.HttpReceiver`. They check what the
real services check (MarkdownV2 escaping, 4,096 characters; Discord embed limits) and record
what they accept.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from typing import Any

import orjson

from tests.integration.alerts.http_receiver import Reply, Request

RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def markdown_v2_error(text: str) -> str | None:
    """Why Telegram would refuse ``text`` as MarkdownV2 (bold, italic, code and escapes), or None."""
    stack: list[str] = []
    in_code = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                return "Bad Request: can't parse entities: Character '\\' at the end of the text"
            i += 2
            continue
        if in_code:
            in_code = c != "`"
        elif c == "`":
            in_code = True
        elif c in "*_":
            if stack and stack[-1] == c:
                stack.pop()
            else:
                stack.append(c)
        elif c in RESERVED:
            return (
                f"Bad Request: can't parse entities: Character '{c}' is reserved and must be escaped "
                "with the preceding '\\'"
            )
        i += 1
    if in_code or stack:
        return "Bad Request: can't parse entities: Can't find end of the entity"
    return None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def discord_payload_error(payload: dict[str, Any]) -> str | None:
    """Which Discord limit ``payload`` breaks, or None."""
    if len(payload.get("content", "")) > 2000:
        return "content: Must be 2000 or fewer in length."
    embeds = payload.get("embeds", [])
    if len(embeds) > 10:
        return "embeds: Must be 10 or fewer in length."
    total = 0
    for embed in embeds:
        fields = embed.get("fields", [])
        checks = [
            (len(embed.get("title", "")) <= 256, "title"),
            (len(embed.get("description", "")) <= 4096, "description"),
            (len(fields) <= 25, "fields"),
            (all(len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024 for f in fields), "fields.value"),
            (len(embed.get("footer", {}).get("text", "")) <= 2048, "footer"),
        ]
        for ok, where in checks:
            if not ok:
                return f"embeds.{where}: too long"
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in fields) + len(embed.get("footer", {}).get("text", ""))
    if total > 6000:
        return "embeds: Embed size exceeds maximum size of 6000"
    return None


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(body), headers or {})


class FloodWindow:
    """Answers 429 for ``seconds`` after the first request (0 = never), asking for at most ``step_s`` per answer.

    Counts the requests refused and those that came back before the wait they were told (``ignored``).
    """

    def __init__(self, seconds: float, step_s: float | None = None) -> None:
        self.seconds = seconds
        self.step_s = step_s or seconds
        self.until: float | None = None
        self.refused = 0
        self.ignored = 0
        self._not_before = 0.0

    def retry_after(self, now: float, *, whole: bool) -> float | None:
        """The wait to answer with while the window lasts (whole seconds for Telegram), else None."""
        if self.seconds <= 0:
            return None
        if self.until is None:
            self.until = now + self.seconds
        if now < self._not_before - 0.01:
            self.ignored += 1
        if now >= self.until:
            return None
        wait = min(self.until - now, self.step_s)
        if whole:
            wait = float(max(1, math.ceil(wait)))
        self.refused += 1
        self._not_before = now + wait
        return wait


class FakeTelegram:
    """``POST /bot<token>/sendMessage``; ≈ ``per_chat_per_s`` messages per second per chat."""

    def __init__(
        self, token: str, *, per_chat_per_s: float = 1.0, flood_s: float = 0.0, flood_step_s: float | None = None
    ) -> None:
        self.token = token
        self.interval = 1.0 / per_chat_per_s
        self.flood = FloodWindow(flood_s, flood_step_s)
        self.accepted: list[dict[str, Any]] = []
        self.too_many = 0
        self._last: dict[str, float] = {}
        self.fail_next: list[Reply] = []  # scripted answers, used before anything else

    def _too_many(self, seconds: float) -> Reply:
        self.too_many += 1
        wait = max(1, math.ceil(seconds))  # Telegram says whole seconds
        return _json(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {wait}",
                "parameters": {"retry_after": wait},
            },
        )

    def __call__(self, request: Request) -> Reply:
        if request.path != f"/bot{self.token}/sendMessage":
            return _json(
                401 if request.path.startswith("/bot") else 404,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
        if self.fail_next:
            return self.fail_next.pop(0)
        message = orjson.loads(request.body)
        now = time.monotonic()
        if (wait := self.flood.retry_after(now, whole=True)) is not None:
            return self._too_many(wait)
        chat = str(message.get("chat_id"))
        last = self._last.get(chat)
        if last is not None and now - last < 0.8 * self.interval:
            return self._too_many(self.interval - (now - last))
        text = message.get("text", "")
        if not text.strip():
            return _json(400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"})
        if utf16_len(text) > 4096:
            return _json(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})
        if message.get("parse_mode") == "MarkdownV2" and (error := markdown_v2_error(text)) is not None:
            return _json(400, {"ok": False, "error_code": 400, "description": error})
        self._last[chat] = now
        self.accepted.append(message)
        return _json(
            200, {"ok": True, "result": {"message_id": len(self.accepted), "chat": {"id": chat}, "text": text}}
        )


class FakeDiscord:
    """``POST /api/webhooks/<id>/<token>``: ``limit`` requests per ``per_s`` seconds, X-RateLimit-* headers."""

    def __init__(
        self,
        webhook: str,
        *,
        limit: int = 5,
        per_s: float = 2.0,
        flood_s: float = 0.0,
        flood_step_s: float | None = None,
    ) -> None:
        self.path = f"/api/webhooks/{webhook}"
        self.limit = limit
        self.per_s = per_s
        self.flood = FloodWindow(flood_s, flood_step_s)
        self.accepted: list[dict[str, Any]] = []
        self.too_many = 0
        self.early = 0  # requests sent although the bucket had said Remaining: 0
        self._recent: deque[float] = deque()

    def _headers(self, now: float) -> dict[str, str]:
        while self._recent and now - self._recent[0] >= self.per_s:
            self._recent.popleft()
        reset = self.per_s - (now - self._recent[0]) if self._recent else self.per_s
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - len(self._recent))),
            "X-RateLimit-Reset-After": f"{reset:.3f}",
            "Content-Type": "application/json",
        }

    def _too_many(self, seconds: float, headers: dict[str, str]) -> Reply:
        self.too_many += 1
        body = {"message": "You are being rate limited.", "retry_after": round(seconds, 3), "global": False}
        return _json(429, body, {**headers, "Retry-After": str(math.ceil(seconds)), "X-RateLimit-Scope": "user"})

    def __call__(self, request: Request) -> Reply:
        if not request.path.startswith(self.path + "?") and request.path != self.path:
            return _json(401, {"message": "Invalid Webhook Token", "code": 50027})
        now = time.monotonic()
        headers = self._headers(now)
        if (wait := self.flood.retry_after(now, whole=False)) is not None:
            return self._too_many(wait, headers)
        if len(self._recent) >= self.limit:
            self.early += 1
            return self._too_many(float(headers["X-RateLimit-Reset-After"]), headers)
        payload = orjson.loads(request.body)
        if (error := discord_payload_error(payload)) is not None:
            return _json(400, {"message": "Invalid Form Body", "code": 50035, "errors": error}, headers)
        self._recent.append(now)
        self.accepted.append(payload)
        return _json(200, {"id": str(len(self.accepted)), "embeds": payload.get("embeds", [])}, self._headers(now))


def telegram_id(message: dict[str, Any]) -> str:
    """The alert id in the code span of a message's last line."""
    found = re.search(r"`([^`]+)`[^`]*$", message["text"])
    assert found, message["text"]
    return found.group(1)


def discord_id(payload: dict[str, Any]) -> str:
    """The alert id in an embed's footer."""
    return str(payload["embeds"][0]["footer"]["text"].rsplit("id ", 1)[1])
