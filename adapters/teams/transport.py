"""Teams delivery for the outbox: proactive messages through stored conversation references.

A person is reached in their 1:1 chat; if they have never messaged the bot, a 1:1 is created through a team the
app is installed in (the member's Teams id comes from the roster). Channel posts use the channel's reference and
are updated in place with ``update_activity``. A message's files go on its card: a PNG inline, anything else
through an expiring link served by the Teams server (see adapters/teams/files.py). Teams throttling (HTTP 429) and server errors become retryable
DeliveryErrors, so the outbox backs off without holding up other conversations.

botbuilder is asyncio; the outbox's deliverer is not: each call runs on the loop given (the server's), or on a
private loop in its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationParameters, ConversationReference

from adapters.teams import cards
from adapters.teams.files import FileLinks
from bot.delivery import DeliveryError, Outgoing
from bot.runtime import Runtime

TIMEOUT = 30


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) or getattr(response, "status", None)


class TeamsTransport:
    platform = "teams"

    def __init__(self, runtime: Runtime, adapter: Any, app_id: str, loop: asyncio.AbstractEventLoop | None = None,
                 files: FileLinks | None = None):
        self.rt = runtime
        self.adapter = adapter
        self.app_id = app_id
        self.files = files  # where files offered through a link are kept (adapters/teams/files.py)
        self.loop = loop
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True, name="teams-transport").start()

    def _run(self, coro: Any) -> Any:
        assert self.loop is not None
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - classify for the outbox
            status = _status_of(exc)
            if status == 429:
                raise DeliveryError("Teams throttled the bot", retry_after=5) from exc
            if status is None or status >= 500:
                raise DeliveryError(f"Teams error: {type(exc).__name__}: {exc}") from exc
            raise DeliveryError(f"Teams refused the message: HTTP {status}", permanent=status in (400, 403, 404)) \
                from exc

    def _reference(self, msg: Outgoing) -> tuple[ConversationReference | None, dict | None]:
        kind = "channel" if msg.target_kind == "channel" else "person"
        data = self.rt.ref(self.platform, kind, msg.address)
        if data is not None:
            return ConversationReference().deserialize(data), None
        if kind == "person":
            member = self.rt.ref(self.platform, "member", msg.address)
            if member is not None:
                return None, member
        raise DeliveryError(f"no stored Teams conversation for {kind} {msg.address}: nobody has installed the app "
                            "there or messaged the bot yet", permanent=False, retry_after=3600)

    async def _send(self, msg: Outgoing, update_id: str | None) -> str:
        ref, member = self._reference(msg)
        link = self.files.publish if self.files is not None and self.files.available else None
        activity = MessageFactory.attachment(CardFactory.adaptive_card(cards.message_card(msg.message, link=link)))
        result: dict[str, str] = {}

        async def callback(turn: TurnContext) -> None:
            if update_id:
                activity.id = update_id
                await turn.update_activity(activity)
                result["id"] = update_id
            else:
                resp = await turn.send_activity(activity)
                result["id"] = resp.id if resp is not None else ""
            result["conversation"] = turn.activity.conversation.id

        if ref is not None:
            await self.adapter.continue_conversation(ref, callback, self.app_id)
        else:
            assert member is not None
            base = ConversationReference().deserialize({k: v for k, v in member.items() if k != "member_id"})
            params = ConversationParameters(is_group=False, bot=base.bot,
                                            members=[ChannelAccount(id=member["member_id"])],
                                            tenant_id=(base.conversation.tenant_id if base.conversation else None))
            await self.adapter.create_conversation(self.app_id, callback, params, "msteams", base.service_url)
        return f"{result.get('conversation', '')}|{result.get('id', '')}"

    def send(self, msg: Outgoing) -> str:
        return self._run(self._send(msg, None))

    def update(self, msg: Outgoing) -> str:
        assert msg.update_of_external_id
        _conversation, activity_id = msg.update_of_external_id.split("|", 1)
        return self._run(self._send(msg, activity_id))

    def find_sent(self, msg: Outgoing) -> str | None:
        return None  # the Bot Connector API cannot list a conversation's past messages: see README (crash window)


__all__ = ["TeamsTransport", "Activity", "ActivityTypes"]
