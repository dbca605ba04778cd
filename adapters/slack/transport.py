"""Slack delivery for the outbox: chat.postMessage / chat.update through slack_sdk's WebClient.

Each message carries its outbox key in Slack message metadata (``event_type: parley_outbox``), so after a
crash ``find_sent`` can look the message up in the channel's history and avoid posting it twice.
Posts are paced to about one a second per channel; 429s (with Retry-After) and 5xx become retryable
DeliveryErrors and go back to the outbox, so one slow channel never holds up another.
"""

from __future__ import annotations

import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import fallback_text, message_blocks
from bot.delivery import DeliveryError, Outgoing

METADATA_TYPE = "parley_outbox"
PACE_SECONDS = 1.0
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive",
             "user_not_found", "cannot_dm_bot", "invalid_blocks", "msg_too_long", "no_permission"}


class SlackTransport:
    platform = "slack"

    def __init__(self, client: WebClient, pace_seconds: float = PACE_SECONDS):
        self.client = client
        self.pace = pace_seconds
        self._last_post: dict[str, float] = {}
        self._dm_channels: dict[str, str] = {}

    def _channel(self, msg: Outgoing) -> str:
        if msg.target_kind == "channel":
            return msg.address
        if msg.address not in self._dm_channels:
            resp = self._call(self.client.conversations_open, users=msg.address)
            self._dm_channels[msg.address] = resp["channel"]["id"]
        return self._dm_channels[msg.address]

    def _call(self, fn, **kwargs):  # noqa: ANN001, ANN202
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error", "") if hasattr(exc.response, "get") else ""
            if status == 429:
                retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
                raise DeliveryError("rate limited", retry_after=float(retry) if retry else 1.0) from exc
            if status >= 500:
                raise DeliveryError(f"Slack {status}") from exc
            raise DeliveryError(f"Slack error: {error or status}", permanent=error in PERMANENT) from exc

    def _paced(self, channel: str) -> None:
        last = self._last_post.get(channel)
        now = time.monotonic()
        if last is not None and now - last < self.pace:
            raise DeliveryError("pacing: about one message a second per channel", retry_after=self.pace)
        self._last_post[channel] = now

    def send(self, msg: Outgoing) -> str:
        channel = self._channel(msg)
        self._paced(channel)
        resp = self._call(self.client.chat_postMessage, channel=channel, text=fallback_text(msg.message),
                          blocks=message_blocks(msg.message),
                          metadata={"event_type": METADATA_TYPE, "event_payload": {"key": msg.key}})
        return f"{resp['channel']}:{resp['ts']}"

    def update(self, msg: Outgoing) -> str:
        assert msg.update_of_external_id
        channel, ts = msg.update_of_external_id.split(":", 1)
        resp = self._call(self.client.chat_update, channel=channel, ts=ts, text=fallback_text(msg.message),
                          blocks=message_blocks(msg.message))
        return f"{resp['channel']}:{resp['ts']}"

    def find_sent(self, msg: Outgoing) -> str | None:
        channel = self._channel(msg)
        resp = self._call(self.client.conversations_history, channel=channel, limit=100, include_all_metadata=True)
        for m in resp.get("messages", []):
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == msg.key:
                return f"{channel}:{m['ts']}"
        return None
