"""The Teams adapter: a thin translator between Microsoft Teams (botbuilder) and bot/'s conversation, forms and
outbox. No deadline logic and no SQL here.

- Personal chat: text commands (new, list, case REF, help) and Adaptive Card forms (the intake form opens with
  the immediate-risk question). Card buttons are ``Action.Execute`` (an ``adaptiveCard/action`` invoke, answered
  with the refreshed card) with an ``Action.Submit`` fallback (a message whose ``value`` carries the verb).
- Channels: ``@Parley register managers for <agency>`` records the channel as that agency's manager channel;
  escalation cards posted there are acknowledged in place.
- Every user's and channel's conversation reference is stored on first contact (message, conversationUpdate,
  installationUpdate), so the scheduler can reach them later; team members seen in the roster are remembered so a
  1:1 chat can be created with someone who has never messaged the bot.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import (Activity, ActivityTypes, AdaptiveCardInvokeResponse, ConversationReference,
                               InvokeResponse)

from adapters.teams import card_forms, card_parts, cards
from adapters.teams.files import FileLinks
from adapters.teams.transport import top_level
from bot.admin import channels
from bot.core.clock import Clock
from bot.conversation.router import Conversation
from bot.forms import answers
from bot.forms.forms import INTAKE_FORM, OUTCOME_FORM, RISK_FORM, Forms
from bot.core.i18n import translator
from bot.core.messages import Button, Form, Message, Reply, Severity
from bot.runtime import PersonInfo, Runtime
from bot.cases.errors import ServiceError
from bot.core.routes import CASE, Route

log = logging.getLogger("parley.teams")
PLATFORM = "teams"
MENTION = re.compile(r"<at>.*?</at>", re.S)
CARD = "application/vnd.microsoft.card.adaptive"


def reference_data(activity: Activity) -> dict[str, Any]:
    return TurnContext.get_conversation_reference(activity).serialize()


class ParleyTeamsBot:
    def __init__(self, runtime: Runtime, clock: Clock, files: FileLinks | None = None, tenant_id: str = "",
                 tenant_ids: tuple[str, ...] = ()):
        # set: activities from any other Microsoft 365 tenant are refused (the bot's own tenant, and those of
        # MICROSOFT_APP_TENANT_IDS: the other organisations of the partnership)
        self.tenant_id = tenant_id
        self.tenant_ids = tuple(t for t in tenant_ids if t)
        self.rt = runtime
        self.clock = clock
        self.files = files  # files offered through a link on a card (adapters/teams/files.py)
        self.conversation = Conversation(runtime.factory, clock, PLATFORM)
        self.forms = Forms(runtime.factory, clock, PLATFORM)
        self.after_turn = None  # set by the server: deliver the outbox after each turn
        self.on_team_changed = None  # set by the server: fetch a team's roster (installed there, people joined)
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}

    # -- identity and references ---------------------------------------------------------------
    async def person(self, turn: TurnContext) -> PersonInfo | None:
        sender = turn.activity.from_property
        aad = _aad(turn.activity)
        email: str | None = None
        known = self.rt.person_for(PLATFORM, aad)
        if known is not None:
            return known
        try:
            member = await TeamsInfo.get_member(turn, sender.id)
            email = getattr(member, "email", None) or getattr(member, "user_principal_name", None)
        except Exception:
            email = None
        return self.rt.person_for(PLATFORM, aad, (lambda: email) if email else None,
                                  locale=getattr(turn.activity, "locale", None))  # e.g. cy-GB: Welsh from the start

    def _save_ref(self, kind: str, key: str, data: dict[str, Any]) -> None:
        """Store a conversation reference, skipping the write when it is unchanged since we last stored it."""
        if self._saved.get((kind, key)) == data:
            return
        self.rt.save_ref(PLATFORM, kind, key, data)
        self._saved[(kind, key)] = data

    def remember(self, turn: TurnContext) -> None:
        act = turn.activity
        data = reference_data(act)
        # the activity's own id changes every turn and a proactive message needs none: without it an unchanged
        # reference is recognised and not written again (two database writes a turn otherwise)
        data.pop("activityId", None)
        tenant = self._tenant(turn)
        if tenant:
            data["tenantId"] = tenant  # not kept by botbuilder's reference; needed to create a 1:1 chat later
        conv = act.conversation
        conv_type = getattr(conv, "conversation_type", None) or "personal"
        sender = act.from_property
        aad = getattr(sender, "aad_object_id", None) or (sender.id if sender else None)
        if conv_type == "personal" and aad:
            self._save_ref("person", aad, data)
        elif conv_type == "channel":
            # the channel itself, not the thread this activity came in (";messageid=..."): posts there are new
            # top-level posts, never replies under whatever last mentioned Parley
            top = {**data, "conversation": {**(data.get("conversation") or {}), "id": top_level(conv.id)}}
            top.pop("activityId", None)
            channel = _channel_id(act)
            self._save_ref("channel", channel or top_level(conv.id), top)
            team = _team_id(act)
            if team:
                self._save_ref("team", team, top)  # for fetching the team's roster later (adapters/teams/roster.py)
        if aad and sender and sender.id:
            self._save_ref("member", aad, {**data, "member_id": sender.id})
        for member in act.members_added or []:
            member_aad = getattr(member, "aad_object_id", None)
            if member_aad:
                self._save_ref("member", member_aad, {**data, "member_id": member.id})

    # -- the turn --------------------------------------------------------------------------------
    def _tenant(self, turn: TurnContext) -> str | None:
        act = turn.activity
        tenant = getattr(act.conversation, "tenant_id", None) if act.conversation else None
        if not tenant and isinstance(act.channel_data, dict):
            t = act.channel_data.get("tenant")
            tenant = t.get("id") if isinstance(t, dict) else None
        return tenant

    async def on_turn(self, turn: TurnContext) -> None:
        act = turn.activity
        allowed = {t for t in (self.tenant_id, *self.tenant_ids) if t}
        if allowed and self._tenant(turn) not in allowed:
            # a replayed or forwarded activity from another organisation: refused, audited, nothing done
            log.warning("Teams activity from another tenant refused", extra={"platform": PLATFORM})
            self.rt.audit_refusal(PLATFORM, "other_tenant", {"tenant": str(self._tenant(turn))[:60]})
            text = translator()("This Parley app serves another organisation: nothing was done.")
            if act.type == ActivityTypes.invoke:
                await self._invoke_reply(turn, self._card(Message(text, severity=Severity.ERROR)))
            elif act.type == ActivityTypes.message:
                await turn.send_activity(MessageFactory.text(text))
            return
        try:
            self.remember(turn)
        except Exception:
            log.exception("could not store the conversation reference")
        if act.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            added = [m for m in (act.members_added or []) if m.id == act.recipient.id]
            team = _team_id(act)
            # Fix: Teams (and the Agents Playground) sends BOTH an installationUpdate(add) and a conversationUpdate
            # adding the bot when the app is installed, so greeting on either showed the welcome card twice. Greet
            # on the conversationUpdate only; the installationUpdate still stores the conversation reference above.
            if added and act.type == ActivityTypes.conversation_update:
                # in a team: how to make a channel a manager channel, not the personal chat's commands
                await turn.send_activity(self._card_activity(team_welcome_message() if team else welcome_message()))
                if not team:
                    # link them now (by the e-mail address Teams gives for them), not at their first message:
                    # until then Parley could not reach them, and what waited for them is delivered now
                    try:
                        await self.person(turn)
                    except Exception:
                        log.exception("could not link a new personal installation")
            installed = act.type == ActivityTypes.installation_update and (act.action or "add").startswith("add")
            if team and self.on_team_changed is not None and (added or installed or act.members_added):
                self.on_team_changed(team)  # fetch the roster: link the members, remember how to reach them
            return
        if act.type == ActivityTypes.invoke and act.name == "adaptiveCard/action":
            await self._invoke(turn)
        elif act.type == ActivityTypes.message:
            await self._message(turn)
        if self.after_turn is not None:
            self.after_turn()

    def _card(self, message: Message) -> dict:
        """The message's card; its files inline or through links (see adapters/teams/cards.message_card); a
        long list of cases a page at a time."""
        if cards.is_case_list(message) and len(message.buttons) > cards.LIST_PAGE:
            return cards.case_list_card(message)
        link = self.files.publish if self.files is not None and self.files.available else None
        return cards.message_card(message, link=link)

    def _card_activity(self, message: Message) -> Activity:
        return MessageFactory.attachment(CardFactory.adaptive_card(self._card(message)))

    async def _send_reply(self, turn: TurnContext, reply: Reply) -> None:
        for m in reply.to_speaker:
            rich = m.buttons or m.fields or m.prompt or m.title or m.attachments
            await turn.send_activity(self._card_activity(m) if rich else MessageFactory.text(m.text))

    async def _message(self, turn: TurnContext) -> None:
        act = turn.activity
        # Action.Submit
        if isinstance(act.value, dict) and isinstance(act.value.get("verb"), str) and act.value["verb"]:
            card = await self._handle_verb(turn, act.value["verb"], act.value)
            if card is not None:
                await turn.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
            return
        text = MENTION.sub("", act.text or "").strip()
        person = await self.person(turn)
        if person is None:
            await turn.send_activity(MessageFactory.text(not_linked_text()))
            return
        registration = channels.parse(text)
        if registration is not None:
            channel = (act.channel_data or {}).get("channel", {}).get("id") if isinstance(act.channel_data, dict) \
                else None
            if not channel:
                await turn.send_activity(MessageFactory.text(translator(person.language)(
                    "Type this in the channel you want to register.")))
                return
            try:
                done = channels.register(self.rt.factory, person.id, PLATFORM, channel, registration, self.clock.now())
            except ServiceError as exc:
                done = exc.message
            await turn.send_activity(MessageFactory.text(done))
            return
        if text.lower() in ("new", "raise", "start"):
            await turn.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(
                card_forms.form_card(self.forms.risk(person.id)))))
            return
        await self._send_reply(turn, self.conversation.handle(person.id, text))

    async def _invoke(self, turn: TurnContext) -> None:
        value = turn.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        verb = action.get("verb") if isinstance(action, dict) else None
        data = (action.get("data") or {}) if isinstance(action, dict) else None
        if not isinstance(verb, str) or not isinstance(data, dict):
            # not the shape of an Adaptive Card action (a broken client, an old card): said plainly, logged
            log.warning("malformed Teams card action", extra={"platform": PLATFORM})
            await self._invoke_reply(turn, self._card(Message(translator()(
                "Sorry, that card action could not be read. Nothing was changed."), severity=Severity.ERROR)))
            return
        try:
            card = await self._handle_verb(turn, verb, data)
        except Exception:
            log.exception("card action %r failed", verb[:60])
            card = self._card(Message(translator()("Sorry, that didn't work. Nothing was changed; please "
                                                           "try again."), severity=Severity.ERROR))
        if card is None:
            card = self._card(Message(translator()("Done.")))
        await self._invoke_reply(turn, card)

    async def _invoke_reply(self, turn: TurnContext, card: dict) -> None:
        await turn.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(
            status=200, body=AdaptiveCardInvokeResponse(status_code=200, type=CARD, value=card))))

    async def _handle_verb(self, turn: TurnContext, verb: str, data: dict[str, Any]) -> dict | None:
        # the same activity delivered again (Teams retries an invoke it thinks timed out; an Action.Submit
        # message posted twice), or the same form card submitted twice: done once, the repeat answered
        def keys(person: PersonInfo) -> list[str]:
            out = [f"activity:{turn.activity.id}"] if turn.activity.id else []
            card = data.get("card")
            if verb in (INTAKE_FORM, OUTCOME_FORM) and isinstance(card, str) and card:
                out.append(f"card:{person.id}:{verb}:{card[:64]}")
            return out

        now = self.clock.now()
        # someone linked already: who they are and the keys claimed in one unit of work
        person, claimed = self.rt.person_claiming(PLATFORM, _aad(turn.activity), keys, now)
        if person is None:  # not linked yet: linked by the e-mail address Teams gives for them, then the same claim
            if await self.person(turn) is not None:
                person, claimed = self.rt.person_claiming(PLATFORM, _aad(turn.activity), keys, now)
            if person is None:
                return self._card(Message(not_linked_text(), severity=Severity.WARNING))
        if claimed is None:
            return self._card(Message(translator(person.language)(
                "Already done: this was sent before, so nothing was done again.")))
        committed = False
        try:
            result, committed = await self._act(turn, person, verb, data)
        finally:
            if not committed:  # refused, re-asked or failed: a second try is a try, not a duplicate
                for k in claimed:
                    self.rt.forget(PLATFORM, k)
        return result

    async def _act(self, turn: TurnContext, person: PersonInfo, verb: str, data: dict[str, Any]
                   ) -> tuple[dict | None, bool]:
        """The card for ``verb``, and whether it changed anything that must not be done twice."""
        if verb in (INTAKE_FORM, OUTCOME_FORM, RISK_FORM):
            res = answers.answer(self.forms, person.id, verb, card_forms.form_values(data), card_forms.context_of(data))
            if res.form is not None:  # the same form again, with its problems, or the next one
                return self._form_card(person, res.form, values=res.values, errors=res.errors), res.changed
            assert res.reply is not None
            return self._card(res.reply.to_speaker[0]), True
        return await self._verb(turn, person, verb, data), True

    async def _verb(self, turn: TurnContext, person: PersonInfo, verb: str, data: dict[str, Any]) -> dict | None:
        if verb == START:
            return card_forms.form_card(self.forms.risk(person.id))
        if verb == PEOPLE_VERB:  # the intake again, as filled in, with the chosen agency's people to pick from
            form = answers.with_context(self.forms.intake(person.id), card_forms.context_of(data))
            return self._intake_card(person, form, values=card_forms.form_values(data))
        value = str(data.get("value", ""))
        if verb == cards.PAGE_ACTION:
            listed = self.rt.case_list(person.id, self.clock.now())
            if listed is None or not cards.is_case_list(listed):
                return self._card(listed) if listed is not None else None
            return cards.case_list_card(listed, int(value) if value.isdigit() else 0, translator(person.language))
        if verb == Route.RECORD_OUTCOME:
            try:
                return card_forms.form_card(self.forms.outcome(person.id, value, named=True))
            except ServiceError as exc:
                return self._card(Message(exc.message, severity=Severity.ERROR))
        if verb == card_parts.REPLY_ACTION:  # typed on the question's card (or its Cancel)
            typed = str(data.get(card_parts.REPLY_INPUT) or "").strip()
            reply = self.conversation.handle(person.id, typed or "skip")
        elif verb == Route.ANSWER:
            reply = self.conversation.handle(person.id, action=Route.ANSWER, value=value)
        elif verb.startswith(CASE) or verb == Route.ACKNOWLEDGE:
            reply = self.conversation.handle(person.id, action=verb, value=value)
        else:
            return self._card(Message(translator(person.language)(
                "That button is no longer available."), severity=Severity.ERROR))
        for extra in reply.to_speaker[1:]:
            await turn.send_activity(self._card_activity(extra))
        return self._card(reply.to_speaker[0]) if reply.to_speaker else None

    def _form_card(self, person: PersonInfo, form: Form, *, values: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None) -> dict:
        """A form as a card: the intake with its people to pick, the outcome form with its case named."""
        if form.id == INTAKE_FORM:
            return self._intake_card(person, form, values=values, errors=errors)
        if form.id == OUTCOME_FORM:
            return card_forms.form_card(self._named(form, person), errors=errors, values=values)
        return card_forms.form_card(form, errors=errors, values=values, people=self._people(person))

    def _named(self, form: Form, person: PersonInfo) -> Form:
        """The outcome form with its case named: reference, agencies and stage in the title (T9)."""
        headline = self.rt.case_headline(form.context, person.language) if form.context else None
        if not headline:
            return form
        T = translator(person.language)
        return dataclasses.replace(form, title=T("Record the outcome: {case}", case=headline))

    def _people(self, person: PersonInfo, agency: str | None = None,
                everyone: list[PersonInfo] | None = None) -> list[tuple[str, str]]:
        """The people offered for the counterpart choice (1.5 has no people picker): everyone else in the board's
        directory while that list is small; in a bigger directory, agency first, then person: only the people of
        the agency chosen (``agency``: its name), and none until one is. Keeps the intake under Teams' 28 KB.
        ``everyone``: the person's colleagues, when the caller has them already."""
        if everyone is None:
            everyone = self.rt.colleagues(person.id)
        pairs = [(str(p.id), f"{p.name} \u2014 {p.agency}" if p.agency else p.name) for p in everyone]
        if card_parts.nbytes(json.dumps(pairs)) <= PEOPLE_BUDGET:
            return pairs
        if not agency:
            return []
        mine = [(str(p.id), p.name) for p in everyone if p.agency == agency]
        while mine and card_parts.nbytes(json.dumps(mine)) > PEOPLE_BUDGET:
            mine = mine[:len(mine) * 3 // 4]  # a huge agency: the first of them; the rest are typed by name
        return mine

    def _intake_card(self, person: PersonInfo, form: Form, *, values: dict[str, str] | None = None,
                     errors: dict[str, str] | None = None) -> dict:
        """The intake form; in a big directory with "List its people" to fill the counterpart choice."""
        values = values or {}
        agencies = {c.value: c.label for f in form.fields if f.id == "agency" for c in f.choices}
        everyone = self.rt.colleagues(person.id)  # read once for the card (it was read twice)
        people = self._people(person, agencies.get(values.get("agency", "")), everyone)
        extra = ()
        if len(people) < len(everyone):
            extra = (card_parts.execute(translator(person.language)("List its people"), PEOPLE_VERB,
                                   {"context": form.context}),)
        return card_forms.form_card(form, errors=errors, values=values, people=people, extra_actions=extra)


def _aad(act: Activity) -> str:
    """Who sent ``act``: their Entra ID object id (their id in Teams without one)."""
    sender = act.from_property
    return getattr(sender, "aad_object_id", None) or sender.id


def _channel_id(act: Activity) -> str | None:
    data = act.channel_data if isinstance(act.channel_data, dict) else {}
    channel = data.get("channel")
    return channel.get("id") if isinstance(channel, dict) and isinstance(channel.get("id"), str) else None


def _team_id(act: Activity) -> str | None:
    data = act.channel_data if isinstance(act.channel_data, dict) else {}
    team = data.get("team")
    return team.get("id") if isinstance(team, dict) and isinstance(team.get("id"), str) else None


def _reference(data: dict[str, Any]) -> ConversationReference:
    return ConversationReference().deserialize(data)


START = "intake.start"  # the welcome card's button: opens the intake (the immediate-risk question first)
PEOPLE_VERB = "intake.people"  # the intake's "List its people": the chosen agency's people (a big directory)
PEOPLE_BUDGET = 12_000  # bytes of people choices on the intake card (Teams' limit is 28 KB for the whole card)


def welcome_message() -> Message:
    T = translator()
    return Message("\n".join([
        T("Hello, I'm Parley. I help you resolve a professional disagreement with another agency, following your "
          "board's protocol, and I keep track of its deadlines."),
        T("Press Raise a concern below, or type 'new'; 'list' shows your cases, 'case REF' one case, 'help' the rest."),
        T("If anyone is at immediate risk of significant harm, use child or adult protection procedures first."),
    ]), title=T("Welcome to Parley"), buttons=(Button(START, T("Raise a concern"), style="primary"),))


def team_welcome_message() -> Message:
    """Posted when the app is added to a team: what a channel is for, not the personal chat's commands."""
    T = translator()
    return Message("\n".join([
        T("Parley posts escalation prompts for a disagreement between agencies in their managers' channels."),
        T("To make a channel an agency's manager channel, the business unit or an administrator types there: "
          "@Parley register managers for <agency> (or senior managers, or directors)."),
        T("Concerns are raised in a personal chat with Parley, never in a channel."),
    ]), title=T("Parley is now in this team"))


def not_linked_text() -> str:
    return translator()("I don't know who you are in the directory yet. Ask your board's business unit to add "
                        "your work e-mail address to the directory.")
