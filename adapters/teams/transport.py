"""Teams delivery for the outbox: proactive messages through stored conversation references.

A person is reached in their 1:1 chat; if they have never messaged the bot, a 1:1 is created through a team the
app is installed in (the member's Teams id comes from the team's roster, see adapters/teams/roster.py), and that
chat is remembered for next time. Someone the directory names but Teams cannot reach (in no roster, never wrote
to Parley) is a permanent failure that says why, so the outbox reports it instead of waiting.

A channel message is a new top-level post in the channel (the stored reference's ``;messageid=`` is dropped, or
the post would be a reply in whatever thread last mentioned Parley); its id is returned as
``conversation|activity``, and an update replaces exactly that activity in that conversation.

Failures are failures: botbuilder's CloudAdapter hands any error raised in a proactive turn to ``on_turn_error``,
which only logs, so the send would look done. The callback here catches the error itself and the transport
raises a DeliveryError: HTTP 429 retryable after the Connector's Retry-After, 5xx and timeouts retryable,
400/403/404 permanent (the app was removed, the user blocked it, the conversation is gone). Requests are bounded
by PARLEY_TEAMS_TIMEOUT and never retried inside botbuilder (adapters/teams/connector.py): the outbox retries.

A message's files go on its card: a PNG inline, anything else through an expiring link served by the Teams
server (see adapters/teams/files.py).

botbuilder is asyncio; the outbox's deliverer is not: each call runs on the loop given (the server's), or on a
private loop in its own thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import email.utils
import threading
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, ConversationReference

from adapters.teams import cards
from adapters.teams.connector import proactive, timeout_from_environment
from adapters.teams.files import FileLinks
from bot.delivery.delivery import DeliveryError, Outgoing
from bot.runtime import Runtime

PERMANENT = {400: "Teams refused the message as malformed (HTTP 400)",
             403: "Teams refused the message (HTTP 403): Parley was removed from that chat or team, or the person "
                  "blocked it",
             404: "Teams no longer has that conversation or message (HTTP 404)"}


def top_level(conversation_id: str) -> str:
    """A channel's conversation id without the thread a reference was taken in: posting there starts a new
    top-level post."""
    return conversation_id.split(";", 1)[0]


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None) or getattr(response, "status", None)
    return value if isinstance(value, int) else None


def retry_after_of(exc: BaseException, now: dt.datetime | None = None) -> float | None:
    """The Connector's Retry-After (seconds, or an HTTP date) from the error's response, if it gave one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None) or {}
    try:
        raw = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    if not raw:
        return None
    raw = str(raw).strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds())


def _timed_out(exc: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)) or \
                "Timeout" in type(e).__name__:
            return True
        inner = getattr(e, "inner_exception", None)
        e = inner if isinstance(inner, BaseException) else (e.__cause__ or e.__context__)
    return False


def classify(exc: BaseException, timeout: float) -> DeliveryError:
    """What a Bot Connector failure means for the outbox (never quoting the payload)."""
    if isinstance(exc, DeliveryError):
        return exc
    status = _status_of(exc)
    if status == 429:
        wait = retry_after_of(exc)
        return DeliveryError("Teams throttled the bot (HTTP 429)", retry_after=wait if wait is not None else 5)
    if status in PERMANENT:
        return DeliveryError(PERMANENT[status], permanent=True)
    if status is not None and status >= 500:
        return DeliveryError(f"Teams server error (HTTP {status})", retry_after=retry_after_of(exc))
    if status is not None:
        return DeliveryError(f"Teams refused the message (HTTP {status})")
    if _timed_out(exc):
        return DeliveryError(f"Teams did not answer within {timeout:g} s")
    return DeliveryError(f"could not reach Teams ({type(exc).__name__})")


class TeamsTransport:
    platform = "teams"

    def __init__(self, runtime: Runtime, adapter: Any, app_id: str, loop: asyncio.AbstractEventLoop | None = None,
                 files: FileLinks | None = None, timeout: float | None = None):
        self.rt = runtime
        self.adapter = adapter
        self.app_id = app_id
        self.files = files  # where files offered through a link are kept (adapters/teams/files.py)
        self.timeout = timeout or timeout_from_environment()  # one Bot Connector request
        self.loop = loop
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True, name="teams-transport").start()

    def _run(self, coro: Any) -> Any:
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            # a send is at most: a token, creating the 1:1, the post; each request bounded by self.timeout
            return future.result(self.timeout * 3 + 5)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise DeliveryError(f"Teams did not answer within {self.timeout:g} s") from exc
        except Exception as exc:
            raise classify(exc, self.timeout) from exc

    # -- where a message goes ----------------------------------------------------------------------
    def _reference(self, msg: Outgoing) -> tuple[ConversationReference | None, dict | None]:
        if msg.target_kind == "channel":
            data = self.rt.ref(self.platform, "channel", msg.address)
            if data is None:
                raise DeliveryError(f"Parley has no conversation in Teams channel {msg.address[:80]}: the channel "
                                    "must be registered from inside it, in a team Parley is installed in",
                                    permanent=True)
            ref = ConversationReference().deserialize(data)
            ref.conversation.id = top_level(ref.conversation.id)
            ref.activity_id = None
            return ref, None
        data = self.rt.ref(self.platform, "person", msg.address)
        if data is not None:
            return ConversationReference().deserialize(data), None
        member = self.rt.ref(self.platform, "member", msg.address)
        if member is not None and member.get("member_id"):
            return None, member
        raise DeliveryError("Teams cannot reach this person: they are not in the roster of any team Parley is "
                            "installed in and have never opened Parley in Teams (add Parley to one of their teams, "
                            "or ask them to install it)", permanent=True)

    def _update_reference(self, msg: Outgoing, conversation: str) -> ConversationReference:
        kind = "channel" if msg.target_kind == "channel" else "person"
        data = self.rt.ref(self.platform, kind, msg.address) or (
            self.rt.ref(self.platform, "member", msg.address) if kind == "person" else None)
        if data is None:
            raise DeliveryError(f"Parley has no conversation reference to update the {kind}'s message",
                                permanent=True)
        ref = ConversationReference().deserialize({k: v for k, v in data.items() if k != "member_id"})
        ref.conversation.id = conversation  # exactly the conversation the message was posted in
        ref.activity_id = None
        return ref

    def _activity(self, msg: Outgoing) -> Activity:
        link = self.files.publish if self.files is not None and self.files.available else None
        return MessageFactory.attachment(CardFactory.adaptive_card(cards.message_card(msg.message, link=link)))

    # -- sending -------------------------------------------------------------------------------------
    async def _send(self, msg: Outgoing) -> str:
        ref, member = self._reference(msg)
        activity = self._activity(msg)
        result: dict[str, Any] = {}

        async def callback(turn: TurnContext) -> None:
            # errors are kept here: raised from the callback, botbuilder would hand them to on_turn_error
            try:
                resp = await turn.send_activity(activity)
                result["id"] = resp.id if resp is not None and resp.id else ""
                result["conversation"] = turn.activity.conversation.id
            except Exception as exc:
                result["error"] = exc

        with proactive():
            if ref is not None:
                await self.adapter.continue_conversation(ref, callback, self.app_id)
            else:
                assert member is not None
                base = ConversationReference().deserialize({k: v for k, v in member.items() if k != "member_id"})
                tenant = member.get("tenantId") or (base.conversation.tenant_id if base.conversation else None)
                params = ConversationParameters(is_group=False, bot=base.bot,
                                                members=[ChannelAccount(id=member["member_id"])], tenant_id=tenant,
                                                channel_data={"tenant": {"id": tenant}} if tenant else None)
                await self.adapter.create_conversation(self.app_id, callback, params, "msteams", base.service_url)
        if "error" in result:
            raise result["error"]
        if "conversation" not in result:
            raise DeliveryError("the Teams send did not run")
        if ref is None and member is not None:
            self._remember_chat(msg.address, member, result["conversation"])
        return f"{result['conversation']}|{result['id']}"

    def _remember_chat(self, aad: str, member: dict, conversation: str) -> None:
        """The 1:1 just created is this person's chat from now on."""
        data = {k: v for k, v in member.items() if k != "member_id"}
        conv = dict(data.get("conversation") or {})
        conv.update(id=conversation, conversationType="personal", isGroup=False)
        conv.pop("name", None)
        data.update(conversation=conv, user={"id": member["member_id"], "aadObjectId": aad})
        data.pop("activityId", None)
        self.rt.save_ref(self.platform, "person", aad, data)

    async def _update(self, msg: Outgoing) -> str:
        assert msg.update_of_external_id
        conversation, activity_id = msg.update_of_external_id.split("|", 1)
        if not conversation or not activity_id:
            raise DeliveryError("the message to update was never confirmed by Teams", permanent=True)
        ref = self._update_reference(msg, conversation)
        activity = self._activity(msg)
        activity.id = activity_id
        result: dict[str, Any] = {}

        async def callback(turn: TurnContext) -> None:
            try:
                await turn.update_activity(activity)
                result["done"] = True
            except Exception as exc:
                result["error"] = exc

        with proactive():
            await self.adapter.continue_conversation(ref, callback, self.app_id)
        if "error" in result:
            raise result["error"]
        if not result.get("done"):
            raise DeliveryError("the Teams update did not run")
        return f"{conversation}|{activity_id}"

    def send(self, msg: Outgoing) -> str:
        return self._run(self._send(msg))

    def update(self, msg: Outgoing) -> str:
        return self._run(self._update(msg))

    def find_sent(self, msg: Outgoing) -> str | None:
        # the Bot Connector API cannot list a conversation's past messages: see docs/teams.md (crash window)
        return None


__all__ = ["TeamsTransport", "classify", "retry_after_of", "top_level"]
