"""Slack delivery for the outbox: chat.postMessage / chat.update through slack_sdk's WebClient.

Each message carries its outbox key in Slack message metadata (``event_type: parley_outbox``), so after a
crash ``find_sent`` can look the message up in the channel's history and avoid posting it twice.
Posts are paced to about one a second per channel; 429s (with Retry-After), 5xx, timeouts (the client's
``timeout``: PARLEY_SEND_TIMEOUT, 10 s by default) and an unreachable Slack become retryable DeliveryErrors and go
back to the outbox, so one slow channel never holds up another. HTTP 403/404 and the errors that say an address
cannot be reached (channel_not_found, is_archived, not_in_channel, user_not_found, account_inactive,
cannot_dm_bot ...) are permanent: the row fails and the business unit is told (bot.delivery.outages).

Attachments (a digest's chart, a form's PDF) are uploaded with ``files_upload_v2`` into the message's thread
(``thread_ts`` = the message), right after the message is posted, so each file stays with the message it
belongs to; the message itself says the files are in its thread. Delivery of such a message is resumable: a
retry, or ``find_sent`` after a crash, finds the message by its outbox key, looks in its thread for the files
already there (by file name) and uploads only the missing ones, so neither the message nor a file is posted
twice.
"""

from __future__ import annotations

import time

from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from adapters.slack.blocks import fallback_text, message_blocks
from bot.delivery.delivery import Deferred, DeliveryError, Outgoing
from bot.core.messages import Attachment, Message

METADATA_TYPE = "parley_outbox"
PACE_SECONDS = 1.0
# the address cannot be reached (or the message can never be accepted): no retry. A bad or revoked token is not an
# address's fault and every message would fail alike: it is retried, and the business unit told after 30 minutes.
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "account_inactive", "user_not_found",
             "cannot_dm_bot", "user_disabled", "invalid_blocks", "msg_too_long", "no_permission", "restricted_action",
             "channel_is_archived", "team_access_not_granted"}


ALT_TEXT_MAX = 1000  # files.getUploadURLExternal's alt_txt


def file_uploads(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """The ``file_uploads`` of ``files_upload_v2``: the bytes, file name and title (the title is also the alt
    text of an image, which screen readers read)."""
    out = []
    for a in attachments:
        item: dict[str, Any] = {"content": a.data, "filename": a.filename, "title": a.title}
        if a.media_type.startswith("image/"):
            item["alt_txt"] = a.title[:ALT_TEXT_MAX]
        out.append(item)
    return out


def upload_attachments(client: WebClient, channel: str, thread_ts: str, attachments: Sequence[Attachment]) -> None:
    """Upload files into the thread of the message ``thread_ts`` in ``channel`` (one files_upload_v2 call)."""
    if attachments:
        client.files_upload_v2(file_uploads=file_uploads(attachments), channel=channel, thread_ts=thread_ts)


def post_message(client: WebClient, channel: str, message: Message, **extra: Any) -> SlackResponse:
    """Post a message (blocks and fallback text), then its attachments into its thread. Returns the
    chat.postMessage answer. For the adapter's direct answers; the outbox goes through SlackTransport."""
    resp = client.chat_postMessage(channel=channel, text=fallback_text(message), blocks=message_blocks(message),
                                   **extra)
    upload_attachments(client, resp["channel"], resp["ts"], message.attachments)
    return resp


def _seconds(value: str | None) -> float:
    try:
        return max(float(value), 0.0) if value else 1.0
    except ValueError:
        return 1.0


class SlackTransport:
    platform = "slack"

    def __init__(self, client: WebClient, pace_seconds: float = PACE_SECONDS,
                 clients: Callable[[Outgoing], WebClient] | None = None):
        """``clients``: with several workspaces, the client (bot token) for a message's recipient
        (adapters/slack/workspaces.py; it raises a retryable DeliveryError when there is none); else ``client``."""
        self.client = client
        self.clients = clients or (lambda _msg: client)
        self.pace = pace_seconds
        self._last_post: dict[str, float] = {}
        self._dm_channels: dict[str, str] = {}

    def _channel(self, client: WebClient, msg: Outgoing) -> str:
        if msg.target_kind == "channel":
            return msg.address
        if msg.address not in self._dm_channels:
            resp = self._call(client.conversations_open, users=msg.address)
            self._dm_channels[msg.address] = resp["channel"]["id"]
        return self._dm_channels[msg.address]

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error", "") if hasattr(exc.response, "get") else ""
            if status == 429:
                retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
                raise DeliveryError("rate limited", retry_after=_seconds(retry), reason="HTTP 429") from exc
            if status >= 500:
                raise DeliveryError(f"Slack {status}", reason=f"HTTP {status}") from exc
            code = error if isinstance(error, str) and error else f"HTTP {status}"
            raise DeliveryError(f"Slack error: {code}", permanent=error in PERMANENT or status in (403, 404),
                                reason=code) from exc
        except TimeoutError as exc:  # no answer within the client's timeout
            raise DeliveryError("Slack did not answer in time", reason="timeout") from exc
        except (SlackRequestError, OSError) as exc:  # unreachable, or a file's bytes not accepted at its upload URL
            timeout = isinstance(getattr(exc, "reason", None), TimeoutError)
            what = "Slack upload failed" if fn is upload_attachments else "Slack unreachable"
            raise DeliveryError(f"{what}: {type(exc).__name__}",
                                reason="timeout" if timeout else "unreachable") from exc

    def _paced(self, channel: str) -> None:
        last = self._last_post.get(channel)
        now = time.monotonic()
        if last is not None and now - last < self.pace:
            raise Deferred("pacing: about one message a second per channel", retry_after=self.pace)
        self._last_post[channel] = now

    def send(self, msg: Outgoing) -> str:
        client = self.clients(msg)
        channel = self._channel(client, msg)
        files = msg.message.attachments
        # a message with files may have been posted by an earlier attempt whose upload failed: finish that one
        earlier = self._posted(client, channel, msg.key) if files else None
        if earlier is not None:
            return self._finish(client, channel, earlier, msg)
        self._paced(channel)
        resp = self._call(client.chat_postMessage, channel=channel, text=fallback_text(msg.message),
                          blocks=message_blocks(msg.message),
                          metadata={"event_type": METADATA_TYPE, "event_payload": {"key": msg.key}})
        if files:
            self._call(upload_attachments, client, resp["channel"], resp["ts"], files)
        return f"{resp['channel']}:{resp['ts']}"

    def update(self, msg: Outgoing) -> str:
        """Replace the text and buttons in place (the files uploaded with the original stay in its thread)."""
        assert msg.update_of_external_id
        channel, ts = msg.update_of_external_id.split(":", 1)
        resp = self._call(self.clients(msg).chat_update, channel=channel, ts=ts, text=fallback_text(msg.message),
                          blocks=message_blocks(msg.message))
        return f"{resp['channel']}:{resp['ts']}"

    def find_sent(self, msg: Outgoing) -> str | None:
        client = self.clients(msg)
        channel = self._channel(client, msg)
        earlier = self._posted(client, channel, msg.key)
        if earlier is None:
            return None
        if msg.message.attachments:
            return self._finish(client, channel, earlier, msg)
        return f"{channel}:{earlier['ts']}"

    def _posted(self, client: WebClient, channel: str, key: str) -> dict | None:
        """The message this outbox key was posted as, from the channel's recent history, if it is there."""
        resp = self._call(client.conversations_history, channel=channel, limit=100, include_all_metadata=True)
        for m in resp.get("messages", []):
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return m
        return None

    def _finish(self, client: WebClient, channel: str, posted: dict, msg: Outgoing) -> str:
        """Upload the attachments not yet in the posted message's thread (matched by file name)."""
        ts = posted["ts"]
        there: set[str] = set()
        if posted.get("reply_count", 1):
            replies = self._call(client.conversations_replies, channel=channel, ts=ts, limit=200)
            there = {f.get("name") for m in replies.get("messages", []) for f in m.get("files") or []}
        missing = [a for a in msg.message.attachments if a.filename not in there]
        if missing:
            self._call(upload_attachments, client, channel, ts, missing)
        return f"{channel}:{ts}"
