"""Channel-neutral conversation flows: one question at a time, 'back' and 'cancel' everywhere.

A conversation's state (flow, step, answers so far) is stored in the database after every turn, so a
person can leave mid-intake and carry on later, from any process. Adapters turn platform input into
``Conversation.handle(person_id, text=..., action=..., value=...)`` and render the ``Reply``.

Button and choice values are the routing keys: ``case.<action>`` buttons carry the case reference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.admin import people, training
from bot.cases import protocols, services
from bot.cases.errors import ServiceError
from bot.cases.services import Ctx
from bot.conversation import cover_commands
from bot.conversation.engine import EXACT, KEPT, SAME, Invalid, Stop, TooLong, Turn
from bot.conversation.flows.form_part import form_message
from bot.conversation.flows.record import sign_record
from bot.conversation.registry import FLOWS
from bot.core import views
from bot.core.clock import Clock
from bot.core.history import contact_log, timeline
from bot.core.i18n import N_, Translator, translator
from bot.core.messages import Button, Message, Reply, Severity
from bot.escalation import escalation
from bot.records import documents, records
from bot.core.routes import CASE, Route
from protocol.state import Status
from storage import repo
from storage.db import keep_after_rollback, writing
from storage.models import Case

# typed commands for the case actions (the same flows as the buttons): "outcome SWN-2026-0001"
ACTION_WORDS = {
    "contact": "record_contact",
    "outcome": "record_outcome",
    "done": "complete_step",
    "escalate": "escalate_exceptional",
    "bypass": "bypass",
    "protect": "set_protective_date",
    "extend": "extend",
    "urgent": "urgent_notice",
    "close": "close",
    "view": "view",
    "counterpart": "name_counterpart",
    "written": "send_written_outcome",
    "record": "draft_record",
    "records": "records",
    "sign": "sign_record",
    "changes": "record_changes",
    "correct": "revise_record",
    "revise": "revise_record",
    "form": "form",
    "forms": "form",
}


RECORD_ACTIONS = {"draft_record", "new_record", "records", "sign_record", "record_changes", "revise_record"}


# the commands in Welsh: each is the English command it stands for ("newydd" is "new", "iaith cy" is
# "language cy"); the English words work for everyone
WELSH_WORDS = {
    "newydd": "new", "rhestr": "list", "achosion": "list", "achos": "case", "cymorth": "help", "iaith": "language",
    "cyswllt": "contact", "canlyniad": "outcome", "gwnaed": "done", "uwchgyfeirio": "escalate", "osgoi": "bypass",
    "amddiffyn": "protect", "estyn": "extend", "brys": "urgent", "cau": "close", "gweld": "view",
    "enwi": "counterpart", "ysgrifenedig": "written", "cofnod": "record", "cofnodion": "records",
    "llofnodi": "sign", "newidiadau": "changes", "cywiro": "correct", "diwygio": "revise", "ffurflen": "form",
    "ffurflenni": "forms", "cydnabod": "acknowledge", "ymadawr": "leaver", "dadactifadu": "deactivate",
    "ailactifadu": "reactivate", "absennol": "away", "dychwelyd": "back", "nôl": "back", "nol": "back", "pwy": "who",
    "cloc": "clock",
}


# the language command's answers, each in the language it names
LANGUAGE_SET = {"en": N_("I'll write to you in English from now on."),
                "cy": N_("I'll write to you in Welsh from now on.")}


SPEAKS_IN = {"en": N_("I write to you in English."), "cy": N_("I write to you in Welsh.")}


HOW_TO_CHANGE_LANGUAGE = N_("To change it, type 'language cy' for Welsh (Cymraeg) or 'language en' for English.")


# -- the conversation driver ------------------------------------------------------------------
class Conversation:
    def __init__(self, factory: sessionmaker[Session], clock: Clock, platform: str):
        self.factory = factory
        self.clock = clock
        self.platform = platform

    def handle(self, person_id: int, text: str | None = None, *, action: str | None = None,
               value: str | None = None) -> Reply:
        reply = self._turn(person_id, text, action, value)
        return training.after(self.factory, self.clock, reply)  # a training board's clock moved: its sweep, now

    def _turn(self, person_id: int, text: str | None, action: str | None, value: str | None) -> Reply:
        with self.factory() as session:
            # one writer at a time on SQLite (storage.db): two people pressing at once are taken in turn
            writing(session)
            person = repo.get_person(person_id, session=session)
            if person is None:
                T = translator()
                return Reply().say(Message(T("I don't know who you are yet.")))
            if not person.active:  # a leaver (bot/admin/people.py) can no longer act
                refused = people.refuse_inactive(person, self.platform, self.clock.now(), session=session)
                session.commit()
                return Reply().say(refused)
            ctx = services.board_ctx(person, self.platform, self.clock.now(), session=session)
            try:
                services.refuse_broken_text(text, value)  # a lone surrogate: a clear message, not a crash
                reply = training.marked(self._handle(session, ctx, text, action, value), ctx)
                session.commit()
                return reply
            except ServiceError as exc:
                session.rollback()
                if keep_after_rollback(exc, session):  # the refusal's audit entry
                    session.commit()
                return Reply().say(Message(exc.message, severity=Severity.ERROR))

    # --------------------------------------------------------------------------------------
    def _handle(self, session: Session, ctx: Ctx, text: str | None, action: str | None, value: str | None
                ) -> Reply:
        T = ctx.T
        conv = repo.get_conversation(self.platform, str(ctx.actor.id), session=session)
        if action is not None and action.startswith(Route.ANSWER) and value is not None:
            # a pressed choice carries the choice's value: marked EXACT, so an id such as "3" is never read as
            # "the third option"
            raw = EXACT + value
        else:
            raw = (value if action is None else None) or text or ""
        word = raw.strip().lower().removeprefix(EXACT)

        # buttons on case cards start flows or show the case, even mid-flow
        if action and action.startswith(CASE):
            return self._case_action(session, ctx, conv, action.removeprefix(CASE), value or "")
        if action == escalation.ACK:
            try:
                prompt_id = int(value or "")
            except ValueError:
                return Reply().say(Message(T("That button is no longer available."), severity=Severity.ERROR))
            message, _ = escalation.acknowledge(ctx, prompt_id, session=session)
            return Reply().say(message)

        if conv.flow and word in ("cancel", "stop", "canslo", "stopio"):
            return self._cancel(session, ctx, conv)
        if conv.flow and word in ("back", "yn ôl", "yn ol", "nôl", "nol"):
            return self._back(session, ctx, conv)
        if conv.flow:
            return self._answer(session, ctx, conv, raw)
        return self._command(session, ctx, conv, raw.strip().removeprefix(EXACT))

    def _command(self, session: Session, ctx: Ctx, conv: Any, raw: str) -> Reply:
        T = ctx.T
        parts = raw.strip().split()
        cmd = parts[0].lower().lstrip("/") if parts else ""
        cmd = WELSH_WORDS.get(cmd, cmd)
        if cmd in ("language", "lang"):
            return self._language(session, ctx, parts[1] if len(parts) >= 2 else "")
        if cmd in ("new", "raise", "start"):
            return self._start(session, ctx, conv, "intake", {})
        if cmd in ("list", "cases", "mine"):
            cases = list(repo.cases_involving(ctx.actor, session=session))
            return Reply().say(views.case_list(T, cases, ctx.now, session=session))
        if cmd == "case" and len(parts) >= 2:
            case = services.find_case(parts[1], ctx, session=session)
            services.require_may_act(ctx, case, "view", session=session)
            if len(parts) >= 3 and parts[2].lower() in ("timeline", "hanes"):
                return Reply().say(timeline(T, case, session=session))
            if len(parts) >= 3 and parts[2].lower() == "log":
                return Reply().say(contact_log(T, case, session=session))
            return Reply().say(views.case_view(T, case, services.state_of(case, ctx.now, session=session),
                                               session=session, now=ctx.now))
        if cmd in ("acknowledge", "ack") and len(parts) >= 2:
            case = services.find_case(parts[1], ctx, session=session)
            prompt_id = escalation.prompt_to_acknowledge(ctx.actor, case, session=session)
            if prompt_id is None:
                return Reply().say(Message(T("Nothing on {ref} is waiting to be acknowledged.", ref=case.ref)))
            message, _ = escalation.acknowledge(ctx, prompt_id, session=session)
            return Reply().say(message)
        if cmd in people.COMMANDS and len(parts) >= 2:  # leavers: the business unit's
            return people.command(ctx, cmd, parts[1], session=session)
        if cmd in ACTION_WORDS and len(parts) >= 2:
            return self._case_action(session, ctx, conv, ACTION_WORDS[cmd], " ".join(parts[1:]))
        if cmd in cover_commands.COMMANDS:  # away until DATE [cover NAME], back, who REF
            return cover_commands.handle(session, ctx, cmd, parts[1:])
        if cmd == "clock":  # a training board's clock (bot/admin/training.py)
            return training.clock_command(ctx, " ".join(parts[1:]), session=session)
        if cmd in ("help", "?", ""):
            return Reply().say(help_message(T))
        return Reply().say(Message(T("I didn't understand {text!r}. Type 'help' to see what I can do.",
                                     text=raw.strip()[:40])))

    def _language(self, session: Session, ctx: Ctx, wanted: str) -> Reply:
        """'language cy' / 'iaith en': the language Parley writes to this person in, answered in it."""
        if not wanted:
            T = ctx.T
            return Reply().say(Message("\n".join([T(SPEAKS_IN[T.language]), T(HOW_TO_CHANGE_LANGUAGE)])))
        person = services.set_language(ctx, wanted, session=session)
        T = translator(person.language)
        return Reply().say(Message("\n".join([T(LANGUAGE_SET[person.language]), T(HOW_TO_CHANGE_LANGUAGE)]),
                                   severity=Severity.SUCCESS))

    def _case_action(self, session: Session, ctx: Ctx, conv: Any, name: str, value: str) -> Reply:
        ref, *args = value.split() or [""]
        case = services.find_case(ref, ctx, session=session)
        services.require_may_act(ctx, case, name, session=session)
        if name == "view":
            return Reply().say(views.case_view(ctx.T, case, services.state_of(case, ctx.now, session=session),
                                               session=session, now=ctx.now))
        if name in RECORD_ACTIONS:
            return self._record_action(session, ctx, conv, case, name, args)
        if name == "form":
            return self._form_action(session, ctx, conv, case, args)
        flow = FLOWS.get(name)
        if flow is None or flow.name == "intake":
            return Reply().say(Message(ctx.T("That button is no longer available."), severity=Severity.ERROR))
        st = services.state_of(case, ctx.now, session=session)
        if (flow.action is not None and flow.action not in st.allowed) or (flow.ready and not flow.ready(st)):
            return Reply().say(Message(why_not(ctx.T, case, st, session=session), severity=Severity.ERROR))
        data: dict[str, Any] = {"ref": case.ref}
        if name == "record_outcome" and args[:1] == ["resolved"]:  # an escalation prompt's "Already resolved"
            data.update(resolved="resolved", preset=True)
        return self._start(session, ctx, conv, name, data)

    def _record_action(self, session: Session, ctx: Ctx, conv: Any, case: Case, name: str, args: list[str]
                       ) -> Reply:
        """draft_record REF [N] (the records, or record N; a first record is drafted at once) | new_record REF |
        records REF | sign_record REF N [V] | record_changes REF N [V]
        | revise_record REF N. Without V the latest version is meant."""
        T = ctx.T
        try:
            nums = [int(a) for a in args[:2]]
        except ValueError:
            return Reply().say(Message(T("Record numbers are whole numbers, e.g. 'record {ref} 1'.", ref=case.ref),
                                       severity=Severity.ERROR))
        if name == "new_record" or (name == "draft_record" and not nums
                                    and not records.records_of(case, session=session)):
            services.require_may_act(ctx, case, "write_record", session=session)
            return self._start(session, ctx, conv, "draft_record", {"ref": case.ref})
        if name in ("records", "draft_record") and not nums:
            return Reply().say(records.records_list(T, case, session=session))
        if not nums:
            return Reply().say(Message(T("Which record? Add its number, e.g. '{word} {ref} 1'.",
                                         word=name.split("_")[0], ref=case.ref), severity=Severity.ERROR))
        rec = records.get_record(ctx, case, nums[0], session=session)
        if name == "draft_record":
            version = nums[1] if len(nums) > 1 else None
            if version is not None and not 1 <= version <= len(rec.versions):
                raise ServiceError(T("Record {n} on {ref} has no version {v}.", n=rec.number, ref=case.ref, v=version))
            return Reply().say(records.record_message(T, case, rec, session=session, version=version,
                                                      viewer_id=ctx.actor.id))
        version = nums[1] if len(nums) > 1 else rec.latest.version
        if name == "sign_record":
            turn = Turn(T, ctx, session, {"ref": case.ref}, [])
            return sign_record(turn, case, rec.number, version)
        if name == "record_changes":
            records.check_signable(ctx, case, rec, version)
            return self._start(session, ctx, conv, "record_changes",
                               {"ref": case.ref, "record": rec.number, "version": version})
        return self._start(session, ctx, conv, "draft_record", {"ref": case.ref, "record": rec.number})

    def _form_action(self, session: Session, ctx: Ctx, conv: Any, case: Case, args: list[str]) -> Reply:
        """form REF (the forms this case has reached) | form REF FORM (sent to you, PDF and HTML) |
        form REF FORM PART (complete or amend that part)."""
        T = ctx.T
        if not args:
            forms = documents.forms_for(case, session=session, now=ctx.now)
            if not forms:
                return Reply().say(Message(T("No form applies to {ref} at its current stage.", ref=case.ref),
                                           case_ref=case.ref))
            lines = [T("Forms for {ref}:", ref=case.ref)]
            lines.extend(f"  \u2022 {T.local(f)} \u2014 form {case.ref} {f.id}" for f in forms)
            return Reply().say(Message("\n".join(lines), case_ref=case.ref, buttons=tuple(
                Button(Route.FORM, T.local(f).split(":")[0], f"{case.ref} {f.id}") for f in forms)))
        form = documents.form_of(ctx, case, args[0], session=session)
        if len(args) == 1:
            entitled = services.may_act(ctx.actor, case, session=session, now=ctx.now)  # the subject details, or not
            filled = documents.fill(T, case, form, session=session, now=ctx.now, with_subject_details=entitled)
            return Reply().say(form_message(T, case, filled, viewer=ctx.actor, session=session))
        try:
            part = form.part(args[1])
        except KeyError:
            raise ServiceError(T("{form} has no part {part!r}; its parts are {parts}.", form=T.local(form),
                                 part=args[1][:40], parts=", ".join(p.id for p in form.parts))) from None
        if not documents.may_complete(ctx.actor, case, part, session=session):
            raise ServiceError(T("{part} is completed by {who}.", part=T.local(part),
                                 who=T(documents.COMPLETERS.get(part.by, part.by))))
        return self._start(session, ctx, conv, "form_part", {"ref": case.ref, "form": form.id, "part": part.id})

    def _start(self, session: Session, ctx: Ctx, conv: Any, flow: str, data: dict[str, Any]) -> Reply:
        state = {"data": data, "step": -1, "history": []}
        return self._advance(session, ctx, conv, flow, state, Reply())

    def _advance(self, session: Session, ctx: Ctx, conv: Any, flow_name: str, state: dict[str, Any],
                 reply: Reply) -> Reply:
        """Move to the next step that applies and ask it; finish when there is none."""
        flow = FLOWS[flow_name]
        notes: list[Message] = []
        turn = Turn(ctx.T, ctx, session, state["data"], notes)
        i = state["step"] + 1
        while i < len(flow.steps):
            msg = flow.steps[i].ask(turn)
            if msg is not None:
                if state["step"] >= 0:
                    state["history"].append(state["step"])
                state["step"] = i
                repo.save_conversation(conv, flow_name, state, session=session)
                for n in notes:
                    reply.say(n)
                return reply.say(msg)
            i += 1
        for n in notes:
            reply.say(n)
        repo.save_conversation(conv, None, {}, session=session)
        return reply.extend(flow.finish(turn))

    def _answer(self, session: Session, ctx: Ctx, conv: Any, raw: str) -> Reply:
        flow = FLOWS[conv.flow]
        state = dict(conv.state)
        step = flow.steps[state["step"]]
        notes: list[Message] = []
        turn = Turn(ctx.T, ctx, session, dict(state["data"]), notes)
        kept = turn.data.get(KEPT)
        if kept and kept.get("step") == step.name and raw.strip().lower().removeprefix(EXACT) in SAME:
            raw = kept["text"]  # the first part of an answer that was too long, taken as it is
        try:
            step.answer(turn, raw)
        except Invalid as exc:
            if isinstance(exc, TooLong):  # kept, so that nothing typed is silently lost
                state["data"] = {**state["data"], KEPT: {"step": step.name, "text": exc.kept}}
                repo.save_conversation(conv, conv.flow, state, session=session)
            again = step.ask(turn)
            reply = Reply().say(Message(str(exc), severity=Severity.ERROR))
            return reply.say(again) if again else reply
        except Stop as stop:
            repo.save_conversation(conv, None, {}, session=session)
            reply = Reply()
            for m in stop.messages:
                reply.say(m)
            return reply
        if turn.data.get("confirm") == "back":
            turn.data.pop("confirm")
            state["data"] = turn.data
            repo.save_conversation(conv, conv.flow, state, session=session)
            return self._back(session, ctx, conv)
        if turn.data.get("confirm") == "cancel":
            return self._cancel(session, ctx, conv)
        turn.data.pop(KEPT, None)
        state["data"] = turn.data
        reply = Reply()
        for n in notes:
            reply.say(n)
        flow_name = conv.flow
        try:
            return self._advance(session, ctx, conv, flow_name, state, reply)
        except ServiceError as exc:
            # Nothing of this turn is kept (the flow's end had already cleared the conversation, and the service
            # may have written part of its change): undo it, then keep the answers at the last question, so that
            # 'back' and 'cancel' work as the message says.
            session.rollback()
            keep_after_rollback(exc, session)  # a refusal's audit entry, committed with the kept answers
            conv = repo.get_conversation(self.platform, str(ctx.actor.id), session=session)
            repo.save_conversation(conv, flow_name, state, session=session)
            return Reply().say(Message(exc.message + " " + ctx.T("Your answers are kept: type 'back' to change one, "
                                                               "or 'cancel' to stop."), severity=Severity.ERROR))

    def _cancel(self, session: Session, ctx: Ctx, conv: Any) -> Reply:
        """End the flow. An intake that showed the immediate-risk route has already recorded that it was shown
        (it is audited at once): the message must not say that nothing was recorded."""
        shown = conv.flow == "intake" and (conv.state or {}).get("data", {}).get("risk_shown_at")
        repo.save_conversation(conv, None, {}, session=session)
        if shown:
            return Reply().say(Message(ctx.T("Cancelled: the disagreement was not recorded. That you were shown the "
                                             "immediate-risk route is kept on record.")))
        return Reply().say(Message(ctx.T("Cancelled. Nothing was recorded.")))

    def _back(self, session: Session, ctx: Ctx, conv: Any) -> Reply:
        """Ask the previous question again; the answers given so far are kept."""
        flow = FLOWS[conv.flow]
        state = dict(conv.state)
        history = list(state.get("history", []))
        turn = Turn(ctx.T, ctx, session, dict(state["data"]), [])
        while history:
            prev = history.pop()
            msg = flow.steps[prev].ask(turn)
            if msg is not None:
                state.update(step=prev, history=history, data=turn.data)
                repo.save_conversation(conv, conv.flow, state, session=session)
                return Reply().say(msg)
        current = flow.steps[state["step"]].ask(turn)
        reply = Reply().say(Message(ctx.T("This is the first question; type 'cancel' to stop.")))
        return reply.say(current) if current else reply

    def pending_prompt(self, person_id: int) -> Message | None:
        """The question a person was last asked, if they are mid-flow (for resuming)."""
        with self.factory() as session:
            conv = repo.get_conversation(self.platform, str(person_id), session=session)
            session.commit()
            if not conv.flow:
                return None
            person = repo.get_person(person_id, session=session)
            assert person is not None
            ctx = services.board_ctx(person, self.platform, self.clock.now(), session=session)
            return FLOWS[conv.flow].steps[conv.state["step"]].ask(
                Turn(ctx.T, ctx, session, dict(conv.state["data"]), []))


def why_not(T: Translator, case: Case, st: Any, *, session: Session) -> str:
    """Why an action can't be taken on a case now, and what can (C-UX8)."""
    proto = protocols.protocol_for(case, session=session)
    stage = views.stage_title(T, proto, case.stage_id)
    if st.status is Status.CLOSED:
        return T("That isn't possible on {ref}: the case is closed.", ref=case.ref)
    if st.status is Status.RESOLVED:
        return T("That isn't possible on {ref}: the case was resolved at {stage}.", ref=case.ref, stage=stage)
    allowed = [T(views.ACTION_LABELS[a]) for a in st.allowed if a in views.ACTION_LABELS]
    if not allowed:
        return T("That isn't possible on {ref} at {stage}.", ref=case.ref, stage=stage)
    return T("That isn't possible on {ref} at {stage}. What can be done now: {actions}.", ref=case.ref, stage=stage,
             actions=", ".join(allowed))


def help_message(T: Translator) -> Message:
    return Message("\n".join([
        T("I help you resolve a professional disagreement with another agency, following your board's protocol."),
        T("  new \u2014 raise a concern"),
        T("  list \u2014 your open cases"),
        T("  case REF \u2014 show a case (add 'timeline' for its history, 'log' for the stage contact log)"),
        T("  contact / outcome / done / escalate / bypass / protect / extend / urgent / close / counterpart REF "
          "\u2014 act on a case (or use its buttons)"),
        T("  record REF \u2014 a meeting or discussion record signed by both of you ('record REF N' reads record N; "
          "sign / changes / correct REF N act on it)"),
        T("  form REF \u2014 the protocol's forms for a case ('form REF FORM' sends it to you as PDF and HTML; "
          "'form REF FORM PART' completes a part)"),
        T("  acknowledge REF \u2014 take ownership of an escalation on a case (as its prompt's Acknowledge button)"),
        T("  who REF \u2014 who must act next on a case, by when, and who covers for whom"),
        T("  away until DATE [cover NAME] / back \u2014 while you are away, your messages go to your cover (or your "
          "line manager)"),
        T("  back / cancel \u2014 during a conversation"),
        T("  language cy / language en \u2014 Parley in Welsh (Cymraeg) or English"),
        T("  leaver EMAIL / reactivate EMAIL \u2014 (business unit) someone has left: they are told nothing more and "
          "their open cases pass to their line manager; or they are back"),
        T("If anyone is at immediate risk of significant harm, use child or adult protection procedures first."),
    ]), title=T("Parley help"))


def steps_of(flow: str) -> list[str]:
    return [s.name for s in FLOWS[flow].steps]
