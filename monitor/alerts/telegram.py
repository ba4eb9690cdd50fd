"""Telegram sink: the Bot API's ``sendMessage`` to one chat, formatted as MarkdownV2.

Facts this relies on (Bot API docs, see docs/alerts.md): ``POST
{api}/bot<token>/sendMessage`` with ``chat_id``, ``text`` (1-4,096 characters)
and ``parse_mode=MarkdownV2``, in which ``_*[]()~`>#+-=|{}.!`` and ``\\`` must
be escaped outside entities (only `````` and ``\\`` inside code); the answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``. A ``429`` carries ``parameters.retry_after``
(seconds) and holds the whole bot, so the sink's delivery pauses for all alerts
(the dispatcher's per-sink outage clock does that). About one message per
second per chat is allowed.

A message longer than 4,096 characters is split at line boundaries into
several messages, sent in order at the chat's rate; a retry resumes at the first part not yet
accepted, so no part is posted twice. Should Telegram still refuse the
formatting (``can't parse entities``), the part is sent once more as plain
text rather than dropped. The bot token is part of the URL: it never appears
in logs or error messages.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import Any, Final

import httpx
import orjson

from monitor.alert import Alert
from monitor.alerts.base import RejectedAlert
from monitor.alerts.config import SeverityName, TelegramSettings
from monitor.alerts.http import make_client, post, short_body
from monitor.alerts.text import direction_words, facts, iso_time, kind_title, since, state_word, symbol, where
from monitor.errors import PermanentDelivery, RetryableDelivery

MESSAGE_LIMIT: Final = 4096
_RESERVED = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_MARKUP = re.compile(r"\\(.)|[*`]", re.DOTALL)
# Alerts whose first parts went out and whose rest waits for a retry (bounded).
_PROGRESS_LIMIT: Final = 1000


def escape(text: str) -> str:
    """Escape every MarkdownV2 reserved character (outside entities)."""
    return _RESERVED.sub(r"\\\1", text)


def escape_code(text: str) -> str:
    """Escape text for inside a MarkdownV2 code span (only ````` and ``\\``)."""
    return text.replace("\\", "\\\\").replace("`", "\\`")


def plain(markdown: str) -> str:
    """The text of a MarkdownV2 message without its markup (escapes undone, ``*`` and ````` dropped)."""
    return _MARKUP.sub(lambda m: m.group(1) or "", markdown)


def units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def message_lines(alert: Alert) -> list[str]:
    """The MarkdownV2 lines of an alert message: headline, direction, summary, facts, id and time."""
    resolved = alert.status == "resolved"
    head = f"{state_word(alert)} · {where(alert)} · {kind_title(alert.kind)}"
    lines = [f"{symbol(alert)} *{escape(head)}*", f"_{escape(direction_words(alert))}_", "", escape(alert.summary), ""]
    pairs = [("Episode" if resolved else "Since", since(alert)), *facts(alert)]
    lines += [f"*{escape(label)}:* {escape(value)}" for label, value in pairs]
    lines += ["", f"`{escape_code(alert.id)}` {escape('· ' + iso_time(alert.ts_ms))}"]
    return lines


def _chop(line: str, limit: int) -> list[str]:
    """Cut a line longer than ``limit`` units, never inside an escape sequence."""
    out = []
    while units(line) > limit:
        cut = limit
        while units(line[:cut]) > limit:
            cut -= units(line[:cut]) - limit
        slashes = len(line[:cut]) - len(line[:cut].rstrip("\\"))
        if slashes % 2:  # do not separate a backslash from the character it escapes
            cut -= 1
        out.append(line[:cut])
        line = line[cut:]
    out.append(line)
    return out


def split_message(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join lines into messages of at most ``limit`` units, splitting at line boundaries."""
    parts: list[str] = []
    current: str | None = None
    for line in lines:
        for piece in _chop(line, limit):
            candidate = piece if current is None else f"{current}\n{piece}"
            if units(candidate) <= limit:
                current = candidate
            else:
                parts.append(current or "")
                current = piece
    if current is not None:
        parts.append(current)
    return [p.strip("\n") for p in parts if p.strip()]


def render(alert: Alert, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The message(s) for ``alert``: one unless it is longer than ``limit``."""
    return split_message(message_lines(alert), limit)


_FIX_HINTS: Final = {
    401: "Telegram refused the bot token: check LIQMON_ALERTS__TELEGRAM__BOT_TOKEN (from @BotFather)",
    403: "the bot may not post in this chat (blocked, removed, or not an admin of the channel): add it again",
    404: "Telegram does not know this bot token: check LIQMON_ALERTS__TELEGRAM__BOT_TOKEN",
}


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


class TelegramSink:
    """Posts alerts to one Telegram chat through a bot."""

    def __init__(
        self, settings: TelegramSettings, *, name: str = "telegram", client: httpx.AsyncClient | None = None
    ) -> None:
        assert settings.bot_token is not None  # checked by TelegramSettings
        self.name = name
        self.min_severity: SeverityName = settings.min_severity
        self._url = f"{settings.api_url.rstrip('/')}/bot{settings.bot_token.get()}/sendMessage"
        self._chat = settings.chat_id
        self._client = client or make_client(settings.timeouts)
        self._progress: OrderedDict[str, int] = OrderedDict()
        self._part_gap_s = 1.0 / settings.rate_per_s  # the parts of a split message respect the chat's rate too

    async def send(self, alert: Alert) -> None:
        """Send the alert's message(s) in order, resuming after the parts already accepted."""
        parts = render(alert)
        first = self._progress.get(alert.id, 0)
        for index in range(first, len(parts)):
            if index > first:
                await asyncio.sleep(self._part_gap_s)
            await self._send_part(parts[index])
            self._progress[alert.id] = index + 1
            while len(self._progress) > _PROGRESS_LIMIT:
                self._progress.popitem(last=False)
        self._progress.pop(alert.id, None)

    async def _send_part(self, text: str) -> None:
        try:
            await self._post({"chat_id": self._chat, "text": text, "parse_mode": "MarkdownV2"})
        except RejectedAlert as exc:
            if "parse entities" not in str(exc):
                raise
            await self._post({"chat_id": self._chat, "text": plain(text)})

    async def _post(self, message: dict[str, Any]) -> None:
        response = await post(
            self._client,
            self._url,
            content=orjson.dumps(message),
            headers={"Content-Type": "application/json"},
            what=self.name,
        )
        status = response.status_code
        answer = _answer(response)
        if 200 <= status < 300 and answer.get("ok", True):
            return
        description = str(answer.get("description") or short_body(response))
        detail = f"{self.name}: HTTP {status} {description}"
        if status == 429 or status >= 500:
            parameters = answer.get("parameters")
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            seconds = float(retry_after) if isinstance(retry_after, (int, float)) else None
            raise RetryableDelivery(detail, retry_after=seconds)
        if status in _FIX_HINTS:
            what = "authentication refused" if status in (401, 403) else "not found"
            raise PermanentDelivery(f"{self.name}: {what} (HTTP {status} {description}); {_FIX_HINTS[status]}")
        if status == 400 and "chat not found" in description.lower():
            raise PermanentDelivery(f"{detail}; check alerts.telegram.chat_id and that the bot is in that chat")
        raise RejectedAlert(detail)

    async def run(self, stop: asyncio.Event) -> None:
        """No background work."""
        await stop.wait()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
