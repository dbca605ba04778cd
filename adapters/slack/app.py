"""The Slack adapter: a thin translator between Slack (slack-bolt) and bot/'s conversation, forms and outbox.

No deadline logic and no SQL here. Every listener acks at once and hands its work to a pool that gives way to the
acks (adapters/slack/ackfirst.py: a modal opens in the ack, fixed, and the work fills it in). Retried events, double
clicks and resubmitted modals are dropped: their delivery keys are remembered in the database.
"""

from __future__ import annotations

import html
import json
import logging
import os
import functools
import re
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters.slack.ackfirst import MISSING, AckGate, AfterAcks, Openings, notice_view, opening_view, show
from adapters.slack.block_text import action_of, truncate
from adapters.slack.blocks import fallback_text, home_view, message_blocks
from adapters.slack.modals import errors_response, form_values, modal_view
from adapters.slack.oauth import OAuthConfig, register_uninstalls
from adapters.slack.registration import register_here
from adapters.slack.requests import delivery_keys, opens_modal, payload_problem, slack_error, team_of
from adapters.slack.transport import SlackTransport, post_message
from adapters.slack.workspaces import OneWorkspace, Workspaces, oauth_mode
from bot.admin import channels
from bot.core.clock import Clock
from bot.conversation.router import Conversation
from bot.delivery import workspaces
from bot.delivery.delivery import Deliverer
from bot.escalation.escalation import ACK
from bot.forms import answers
from bot.forms.forms import INTAKE_FORM, OUTCOME_FORM, RISK_FORM, Forms
from bot.core.i18n import Translator, translator
from bot.core.messages import Message, Reply, Severity
from bot.runtime import PersonInfo, Runtime
from bot.cases.errors import ServiceError
from bot.core.routes import Route

log = logging.getLogger("parley.slack")
PLATFORM = "slack"
WORK_THREADS = int(os.environ.get("PARLEY_SLACK_WORK_THREADS", "4"))  # threads for the work after the acks
ACTIONS = re.compile(r"^(case\.|esc\.|answer)")
REVOCATIONS = ("app_uninstalled", "tokens_revoked")  # from any workspace: they only delete its own tokens


class SlackAdapter:
    def __init__(self, runtime: Runtime, clock: Clock, client: WebClient, *, signing_secret: str,
                 process_before_response: bool = True, teams: tuple[str, ...] | None = None,
                 oauth: OAuthConfig | None = None):
        """``client``: with SLACK_BOT_TOKEN, its client; in OAuth mode (``oauth``: several workspaces, each with its
        own token from the installation store) a client without a token, whose address every workspace's shares."""
        # the Slack workspaces (team ids) this board uses; None: any (SLACK_TEAM_ID, comma-separated)
        env_teams = tuple(t.strip() for t in os.environ.get("SLACK_TEAM_ID", "").split(",") if t.strip())
        self.teams = teams if teams is not None else (env_teams or None)
        self.rt = runtime
        self.clock = clock
        self.oauth = oauth
        self.conversation = Conversation(runtime.factory, clock, PLATFORM)
        self.forms = Forms(runtime.factory, clock, PLATFORM)
        auth: dict[str, Any] = {}  # OAuth mode: Bolt's install flow and authorize
        self.workspaces: OneWorkspace | Workspaces = OneWorkspace(client)
        if oauth is not None:
            self.workspaces, auth = oauth_mode(runtime, oauth, client, self._serves, self._not_installed)
        self.transport = SlackTransport(client, clients=self.workspaces.for_message if oauth else None)
        self.deliverer = Deliverer(runtime.factory, {PLATFORM: self.transport}, clock, "slack-adapter")
        # Bolt runs each ack function on the request's own thread (process_before_response), and the work after it
        # (a conversation turn, deliveries) on a bounded pool of its own whose jobs give way to the acks being
        # answered (adapters/slack/ackfirst.py): an ack never waits behind work
        self.gate, self.openings = AckGate(), Openings()
        self.work = AfterAcks(self.gate, WORK_THREADS, thread_name_prefix="parley-slack-work")
        self.app = App(client=client, signing_secret=signing_secret, token_verification_enabled=False,
                       process_before_response=process_before_response, listener_executor=self.work,
                       before_authorize=self._well_formed_and_ours, **auth)
        self._register()

    @property
    def client(self) -> WebClient:
        """The Slack client for the request being answered on this thread (OAuth mode: its workspace's token)."""
        return self.workspaces.client()

    def _serves(self, team: str | None) -> bool:
        """One workspace: those SLACK_TEAM_ID names (any when unset). Several: those the directory records for an
        agency, and any SLACK_TEAM_ID names; each must also have Parley installed (Bolt's authorize checks)."""
        if self.oauth is None:
            return self.teams is None or team in self.teams
        return bool(team) and (team in (self.teams or ()) or team in workspaces.recorded(self.rt.factory))

    def _not_installed(self, team: str | None) -> None:
        log.warning("Slack request from a workspace Parley is not installed in refused", extra={"platform": PLATFORM})
        self.rt.audit_refusal(PLATFORM, "not_installed", {"team": str(team)[:40]})

    # -- identity -------------------------------------------------------------------------------
    def person(self, user_id: str) -> PersonInfo | None:
        seen: dict[str, Any] = {}

        def email() -> str | None:
            try:
                user = self.client.users_info(user=user_id, include_locale=True)["user"]
            except Exception:
                return None
            seen["locale"] = user.get("locale")  # their Slack language, for Parley's on first link
            return (user.get("profile") or {}).get("email")

        return self.openings.seen(user_id, self.rt.person_for(PLATFORM, user_id, email, lambda: seen.get("locale")))

    def _speaker(self, body: dict, user: str) -> PersonInfo | None:
        """Who is acting, for work done after the ack: None (and nothing more to do) for a duplicate delivery,
        or for someone not in the directory, who is told by DM how to get linked."""
        if not self.fresh(body):
            return None
        person = self.person(user)
        if person is None:
            self._dm(user, self._not_linked(user))
        return person

    def _not_linked(self, user_id: str) -> Message:
        return Message(translator()("I don't know who you are in the directory yet. Ask your board's business unit "
                                    "to link you: they type `/parley link <@{user}> your-handle`.", user=user_id),
                       severity=Severity.WARNING)

    # -- output -----------------------------------------------------------------------------------
    def _dm(self, user_id: str, message: Message) -> None:
        """A direct message to someone not (yet) in the directory: the only message sent outside the outbox, as
        there is nobody to queue it for."""
        client = self.workspaces.for_user(user_id)
        channel = client.conversations_open(users=user_id)["channel"]["id"]
        post_message(client, channel, message)  # with its files, if any, in the message's thread

    def _to_speaker(self, person: PersonInfo, messages: list[Message]) -> None:
        """The speaker's replies as direct messages, through the outbox like every other message, so a Slack
        failure is retried rather than losing the answer."""
        if messages:
            self.rt.queue_reply(person.id, messages, f"reply:{uuid.uuid4().hex}", self.clock.now())

    def _deliver(self, user_id: str, person: PersonInfo | None, reply: Reply) -> None:
        """The speaker's messages as DMs, and what the reply queued for other people and channels, delivered by
        the outbox (bot.delivery.delivery: retried until it arrives); those people's App Homes refreshed."""
        if person is not None:
            self._to_speaker(person, reply.to_speaker)
        else:
            for m in reply.to_speaker:
                self._dm(user_id, m)
        self.deliverer.deliver()
        for pid in dict.fromkeys(ob.to.person_id for ob in reply.queued if ob.to.kind == "person"):
            other = self.rt.identity_of(pid, PLATFORM) if pid is not None else None
            other_person = self.rt.person(pid) if other and pid is not None else None
            if other and other_person is not None:
                self.publish_home(other, other_person)  # their App Home shows the change too
        if person is not None:  # read again: what they just did may have changed them (e.g. their language)
            self.publish_home(user_id, self.rt.person(person.id) or person)

    def publish_home(self, user_id: str, person: PersonInfo) -> None:
        self.openings.seen(user_id, person)  # read after what they did: a new language shows from their next click
        cards = self.rt.home_messages(person.id, self.clock.now())
        T = translator(person.language)
        self.workspaces.for_user(user_id).views_publish(user_id=user_id, view=home_view(T("Your cases"), cards, T=T))

    def fresh(self, body: dict) -> bool:
        """False for a delivery already handled: a retried event, a resubmitted modal, a double click, or a signed
        request replayed within Slack's five-minute signature window."""
        now = self.clock.now()
        return all(self.rt.first_time(PLATFORM, key, now, window) for key, window in delivery_keys(body))

    def forget(self, body: dict) -> None:
        """The work for this delivery failed before anything was recorded: Slack (or the person) may send it
        again, and it must then be done."""
        for key, _window in delivery_keys(body):
            self.rt.forget(PLATFORM, key)
        self.openings.forget(delivery_keys(body))

    def _once(self, work: Callable[..., None]) -> Callable[..., None]:
        """``work`` (done after the ack) with its delivery key forgotten if it fails, so a retry is not dropped."""
        @functools.wraps(work)
        def run(*args: Any, **kwargs: Any) -> None:
            body = kwargs.get("body") or {}
            try:
                with self.workspaces.acting_for(body):
                    work(*args, **kwargs)
            except Exception:
                self.forget(body)
                raise

        return run

    def _later(self, work: Callable[..., None]) -> Callable[..., None]:
        """A listener that acks at once (``_ack``: a modal opened first when the request asks for one) and hands
        ``work(body=, respond=)`` to the pool after the acks. Not Bolt's lazy listeners: they deep-copy the request
        and its context on the ack's thread, which cost more than all the rest of an ack."""
        once = self._once(work)

        def listener(ack: Callable[..., None], body: dict, respond: Any) -> None:
            self._ack(ack, body)
            self.work.submit(once, body=body, respond=respond)

        return listener

    # -- listeners ----------------------------------------------------------------------------------
    def _well_formed_and_ours(self, body: dict, next: Callable[[], Any], logger: logging.Logger) -> Any:
        """Before Bolt's authorize: a payload that is not the shape Slack sends, or comes from a workspace this
        board does not use (a replay from elsewhere), is answered plainly and changes nothing: never a 500 that
        Slack retries."""
        from slack_bolt import BoltResponse

        problem = payload_problem(body)
        if problem:
            log.warning("malformed Slack payload: %s", problem, extra={"platform": PLATFORM})
            return BoltResponse(status=400, body=json.dumps({"error": f"malformed payload: {problem}"}),
                                headers={"content-type": "application/json"})
        team = team_of(body)
        exempt = body.get("type") == "url_verification" or (body.get("event") or {}).get("type") in REVOCATIONS
        if not exempt and not self._serves(team):
            log.warning("Slack request from another workspace refused", extra={"platform": PLATFORM})
            self.rt.audit_refusal(PLATFORM, "other_workspace", {"team": str(team)[:40]})
            text = translator()("This Parley app serves another Slack workspace: nothing was done.")
            if body.get("command"):
                return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": text}),
                                    headers={"content-type": "application/json"})
            return BoltResponse(status=200, body="")
        with self.gate:  # the work after the acks waits while any request is being answered
            return next()

    def _register(self) -> None:
        app = self.app
        if isinstance(self.workspaces, Workspaces):
            @app.middleware
            def remember(body: dict, next: Callable[[], Any]) -> Any:
                # after Bolt's authorize: where this request's user and channel are, for messages to them later
                self.workspaces.remember(body)
                return next()

            register_uninstalls(app, self.rt, self.workspaces.tokens)

        @app.middleware
        def drop_duplicate_submissions(body: dict, next: Callable[[], Any], logger: logging.Logger
                                       ) -> Any:
            # A modal submission is answered in the ack itself, so a duplicate is dropped before it; events
            # and clicks are acked at once and their duplicates dropped in the work after the ack (fresh()).
            # Slack telling an app it is being rate limited: acknowledged (200), nothing to do
            if body.get("type") == "app_rate_limited":
                from slack_bolt import BoltResponse

                log.warning("Slack says this app is rate limited", extra={"platform": PLATFORM})
                return BoltResponse(status=200, body="")
            # Runs after the shape and workspace checks, so a refused request stores no key; a submission whose
            # work then fails (Slack keeps the modal open) forgets its key (``_once``), so a second Submit is done.
            if body.get("type") == "view_submission" and not self.fresh(body):
                logger.info("dropping a duplicate modal submission")
                from slack_bolt import BoltResponse

                return BoltResponse(status=200, body="")
            return next()

        def just_ack(ack: Callable[..., None]) -> None:
            ack()

        def stale_action(body: dict, respond: Any) -> None:
            """A button or menu Parley no longer has (an old card, an app update): told so, nothing done."""
            user = body["user"]["id"]
            if self.person(user) is not None:
                self._ephemeral(body, user, translator()("That button is no longer available. Type `/parley` "
                                                         "to see your cases."))

        app.command("/parley")(self._later(self._command))
        app.shortcut("raise_from_message")(self._later(self._shortcut))
        app.action(ACTIONS)(self._later(self._lazy_action))
        app.view(RISK_FORM)(self._once(self._risk_submitted))
        app.view(INTAKE_FORM)(self._once(self._form_submitted))
        app.view(OUTCOME_FORM)(self._once(self._form_submitted))
        app.event("app_home_opened")(self._later(self._home_opened))
        app.event("message")(self._later(self._message))
        # registered last: anything else Slack may send is acknowledged, so it is never retried
        app.action(re.compile(".*"))(self._later(stale_action))
        app.event(re.compile(".*"))(just_ack)
        app.view(re.compile(".*"))(just_ack)

    def _ack(self, ack: Callable[..., None], body: dict) -> None:
        """Every request is acknowledged at once; the ones that open a modal open it first (within Slack's 3 s)."""
        try:
            if opens_modal(body):
                with self.workspaces.acting_for(body):
                    self._open_first(body)
        finally:
            ack()

    def _open_first(self, body: dict) -> None:
        """In the ack: the modal opened with a fixed "Opening the form…" view, in the person's language (a read, no
        write); a double click this process answered lately opens none. Any failure leaves the work to carry on."""
        trigger = body.get("trigger_id") or ""
        if not trigger or self.openings.again(delivery_keys(body)):
            return
        view_id, user = None, body.get("user_id") or (body.get("user") or {}).get("id") or ""
        try:
            view_id = self.client.views_open(trigger_id=trigger, view=opening_view(self._T(user)))["view"]["id"]
        except Exception as exc:  # the trigger expired, Slack failed, the database is away: the work carries on
            log.warning("views.open failed in the ack (%s); the work carries on", slack_error(exc))
        self.openings.opened(trigger, view_id)

    def _T(self, user: str) -> Translator:
        """The Slack user's language as this process last read it (read now, without writing, if never)."""
        return translator(self.openings.language(user, lambda: self.rt.person_for(PLATFORM, user)))

    def _command(self, body: dict, respond: Callable[..., None]) -> None:
        if opens_modal(body):
            user = body["user_id"]
            self._fill(body, user, lambda p: modal_view(self.forms.risk(p.id), T=translator(p.language)),
                       lambda p: self.conversation.handle(p.id, "new"))
            return
        if not self.fresh(body):
            return
        user = body["user_id"]
        text = (body.get("text") or "").strip()
        words = text.split()
        person = self.person(user)
        if words[:1] == ["link"] and len(words) >= 3 and person is not None:
            target = re.sub(r"^<@([A-Z0-9]+)(\|[^>]*)?>$", r"\1", words[1])
            try:
                linked = self.rt.link(person.id, PLATFORM, target, words[2])
                respond(response_type="ephemeral", text=translator()("Linked <@{u}> to {name}.", u=target,
                                                                    name=linked.name))
            except ServiceError as exc:
                respond(response_type="ephemeral", text=exc.message)
            return
        if person is None:
            m = self._not_linked(user)
            respond(response_type="ephemeral", text=fallback_text(m), blocks=message_blocks(m))
            return
        registration = channels.parse(text)
        if registration is not None:
            channel = body.get("channel_id") or ""
            respond(response_type="ephemeral", text=register_here(self.client, self.rt, self.clock.now(),
                                                                  person, channel, registration))
            return
        reply = self.conversation.handle(person.id, text)
        with_files = [m for m in reply.to_speaker if m.attachments]  # an ephemeral answer cannot carry files
        for m in reply.to_speaker:
            if not m.attachments:
                respond(response_type="ephemeral", text=fallback_text(m), blocks=message_blocks(m))
        self._deliver(user, person, Reply(to_speaker=with_files, queued=reply.queued))

    def _shortcut(self, body: dict, respond: Any) -> None:
        # Slack sends message text entity-escaped; the form shows it as typed
        text = truncate(html.unescape((body.get("message") or {}).get("text", "")), 2800)
        self._fill(body, body["user"]["id"], lambda p: modal_view(
            self.forms.risk(p.id), private_metadata=f"prefill={text}" if text else "", T=translator(p.language)),
            lambda p: self.conversation.handle(p.id, "new"))

    def _risk_submitted(self, ack: Callable[..., None], body: dict, view: dict) -> None:
        user = body["user"]["id"]
        person = self.person(user)
        if person is None:
            ack(response_action="errors", errors={"risk": self._not_linked(user).text[:150]})
            return
        meta = view.get("private_metadata", "")
        res = answers.answer(self.forms, person.id, RISK_FORM, form_values(view["state"]["values"]),
                             prefill_what=meta[len("prefill="):] if meta.startswith("prefill=") else None)
        assert res.form is not None
        if res.errors:
            ack(**errors_response(res.form, res.errors))
            return
        ack(response_action="update", view=modal_view(res.form, T=translator(person.language)))

    def _form_submitted(self, ack: Callable[..., None], body: dict, view: dict) -> None:
        user = body["user"]["id"]
        person = self.person(user)
        if person is None:
            ack(response_action="errors", errors={"what": self._not_linked(user).text[:150]})
            return
        values = form_values(view["state"]["values"])
        slack_user = values.get("person")
        if slack_user:  # a Slack user was picked: the directory person behind them, else their name
            picked = self.person(slack_user)
            values["person"] = str(picked.id) if picked else ""
            if picked is None and not values.get("person_name"):
                values["person_name"] = self._real_name(slack_user) or ""
        res = answers.answer(self.forms, person.id, view["callback_id"], values, view.get("private_metadata", ""))
        if res.errors:  # the form again, with every answer as typed and each problem at its field where it has one
            assert res.form is not None
            ack(**errors_response(res.form, res.errors))
            return
        ack()
        assert res.reply is not None
        self.work.submit(self._deliver, user, person, res.reply)  # after the answer to Slack, with the other work

    def _real_name(self, user_id: str) -> str | None:
        try:
            return self.client.users_info(user=user_id)["user"].get("real_name")
        except Exception:
            return None

    def _lazy_action(self, body: dict, respond: Any) -> None:
        action = body["actions"][0]
        user = body["user"]["id"]
        value = action.get("value", "")
        if opens_modal(body):  # the outcome form, in the modal opened in the ack
            self._fill(body, user, lambda p: modal_view(self.forms.outcome(p.id, value), T=translator(p.language)),
                       lambda p: self.conversation.handle(p.id, action=Route.RECORD_OUTCOME, value=value))
            return
        person = self._speaker(body, user)
        if person is None:
            return
        action_id = action_of(action.get("action_id", ""))
        if action_id.startswith(Route.ANSWER):
            reply = self.conversation.handle(person.id, action=Route.ANSWER, value=value)
        else:
            reply = self.conversation.handle(person.id, action=action_id, value=value)
        if action_id == ACK:
            # in the channel: a quiet answer to the clicker only; the prompt itself is updated in place
            for m in reply.to_speaker:
                self._ephemeral(body, user, m.text.split("\n")[0])
            self._deliver(user, person, Reply(queued=reply.queued))
            return
        self._deliver(user, person, reply)

    def _fill(self, body: dict, user: str, build: Callable[[PersonInfo], dict],
              instead: Callable[[PersonInfo], Reply]) -> None:
        """After the ack: the modal it opened filled in with the form ``build`` makes (views.update), or with why
        not (not linked, not allowed, already open elsewhere). When there is no modal (Slack would not open it, or
        will not fill it), the person is never left with nothing: the same questions carry on in their direct
        messages, one at a time, through the outbox."""
        view_id = self.openings.take(body.get("trigger_id"))
        if view_id is MISSING:
            return  # a double click or replay this process answered: the first fills the one modal
        opened = view_id if isinstance(view_id, str) else None
        if not self.fresh(body):  # a double click or replay another replica answered
            if opened:
                T = self._T(user)
                show(self.client, opened, notice_view(T("This is already open in another window."), T))
            return
        person = self.person(user)
        if person is None:
            told = self._not_linked(user)
            if not (opened and show(self.client, opened, notice_view(told.text, translator()))):
                self._dm(user, told)
            return
        T = translator(person.language)
        try:
            view = build(person)
        except ServiceError as exc:  # not theirs to do, or no longer possible
            if not (opened and show(self.client, opened, notice_view(exc.message, T))):
                self._ephemeral(body, user, exc.message)
            return
        except Exception:
            if opened:  # never left looking at "Opening the form…"
                show(self.client, opened, notice_view(T("Something went wrong, and nothing was recorded. Please "
                                                        "try again."), T))
            raise
        if opened and show(self.client, opened, view):
            return
        reply = instead(person)
        note = Message(T("I couldn't open the form in Slack just now, so let's carry on here: answer each "
                         "question in this conversation."), severity=Severity.WARNING)
        self._deliver(user, person, Reply(to_speaker=[note, *reply.to_speaker], queued=reply.queued))

    def _ephemeral(self, body: dict, user: str, text: str) -> None:
        """A quiet answer to the clicker in the channel where they clicked; if Slack will not take it (or there is no
        channel), a direct message through the outbox instead."""
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if channel:
            try:
                self.client.chat_postEphemeral(channel=channel, user=user, text=text)
                return
            except SlackApiError as exc:
                log.warning("chat.postEphemeral failed (%s); answering by direct message", slack_error(exc))
        person = self.person(user)
        if person is not None:
            self._deliver(user, person, Reply(to_speaker=[Message(text)]))
        else:
            self._dm(user, Message(text))

    def _home_opened(self, body: dict, respond: Any) -> None:
        event = body["event"]
        if event.get("tab") not in (None, "home") or not self.fresh(body):
            return
        person = self.person(event["user"])
        if person is None:
            self.client.views_publish(user_id=event["user"], view=home_view(
                "Parley", [self._not_linked(event["user"])]))
            return
        self.publish_home(event["user"], person)

    def _message(self, body: dict, respond: Any) -> None:
        event = body["event"]
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        user = event.get("user")
        if not user:
            return
        person = self._speaker(body, user)
        if person is None:
            return
        self._deliver(user, person, self.conversation.handle(person.id, event.get("text", "")))

