"""Who may do what: the written permission matrix, enforced by bot/ services (never by adapters).

A person's roles on a case come from the directory and the case: the raiser, the counterpart, managers up
either party's line (and the counterpart agency's managers while the counterpart is not in the directory),
the two agencies' safeguarding leads, other managers in the two agencies (who see escalation prompts in
their agency's manager channel), the board's business unit and chair, an administrator, or anyone else.
``MATRIX`` maps each action to the roles allowed; docs/permissions.md is generated from it (`make
permissions-doc`) and a test keeps the two the same.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from bot.core.i18n import N_, Translator, translator
from storage import repo
from storage.models import Case, Person

MANAGER_ROLES = {"line_manager", "senior_manager", "director", "safeguarding_lead"}


class Role(StrEnum):
    RAISER = "raiser"
    COUNTERPART = "counterpart"
    MANAGER = "manager"  # up either party's management line
    SAFEGUARDING_LEAD = "safeguarding_lead"  # of either agency
    AGENCY_MANAGER = "agency_manager"  # any other manager in either agency
    COVER = "cover"  # covering for someone on the case while they are away (bot/cases/cover.py)
    BUSINESS_UNIT = "business_unit"
    CHAIR = "chair"
    ADMIN = "admin"
    OTHER = "other"


ROLE_LABELS = {
    Role.RAISER: N_("the practitioner who raised it"),
    Role.COUNTERPART: N_("the counterpart"),
    Role.MANAGER: N_("their line and senior managers"),
    Role.SAFEGUARDING_LEAD: N_("the agencies' safeguarding leads"),
    Role.AGENCY_MANAGER: N_("other managers in the two agencies"),
    Role.COVER: N_("whoever covers for one of them while they are away"),
    Role.BUSINESS_UNIT: N_("the board's business unit"),
    Role.CHAIR: N_("the board's chair"),
    Role.ADMIN: N_("an administrator"),
    Role.OTHER: N_("anyone else"),
}


class Act(StrEnum):
    VIEW_CASE = "view case"
    VIEW_SUBJECT = "view subject details"
    RECORD_CONTACT = "record contact"
    COMPLETE_STEP = "record a step as done"
    RECORD_OUTCOME = "record outcome"
    ESCALATE = "escalate to the exceptional stage"
    BYPASS = "bypass to a higher stage"
    PROTECTIVE_DATE = "set a protective date"
    EXTEND = "extend a deadline"
    URGENT_NOTICE = "send an urgent notice"
    CLOSE = "close a case"
    NAME_COUNTERPART = "name the counterpart"
    WRITTEN_OUTCOME = "send the written outcome"
    DRAFT_RECORD = "draft or correct a meeting record"
    SIGN_RECORD = "sign a meeting record"
    ACKNOWLEDGE = "acknowledge an escalation"
    FORM_PART = "complete a form part"
    RUN_REPORTS = "run reports"
    REGISTER_CHANNEL = "register a channel"
    EDIT_DIRECTORY = "edit the directory"
    SET_COVER = "mark someone else away and name their cover"
    TRAINING_CLOCK = "move a training board's clock"


# each action as a refusal names it (ctx.T(act.value)), spelt out so `make messages` puts it in the catalogues
ACT_WORDS = (N_("view case"), N_("view subject details"), N_("record contact"), N_("record a step as done"),
             N_("record outcome"), N_("escalate to the exceptional stage"), N_("bypass to a higher stage"),
             N_("set a protective date"), N_("extend a deadline"), N_("send an urgent notice"), N_("close a case"),
             N_("name the counterpart"), N_("send the written outcome"), N_("draft or correct a meeting record"),
             N_("sign a meeting record"), N_("acknowledge an escalation"), N_("complete a form part"),
             N_("run reports"), N_("register a channel"), N_("edit the directory"),
             N_("mark someone else away and name their cover"), N_("move a training board's clock"))


R, C, M, SL, AM, CO, BU, CH, AD = (Role.RAISER, Role.COUNTERPART, Role.MANAGER, Role.SAFEGUARDING_LEAD,
                                   Role.AGENCY_MANAGER, Role.COVER, Role.BUSINESS_UNIT, Role.CHAIR, Role.ADMIN)
CASE_TEAM = frozenset({R, C, M, CO, SL, BU, CH})
# a cover acts as the absent person's manager could (Role.COVER wherever Role.MANAGER is)
MATRIX: dict[Act, frozenset[Role]] = {
    Act.VIEW_CASE: CASE_TEAM | {AM},
    Act.VIEW_SUBJECT: CASE_TEAM,
    Act.RECORD_CONTACT: frozenset({R, C, M, CO, SL, BU}),
    Act.COMPLETE_STEP: CASE_TEAM,
    Act.RECORD_OUTCOME: CASE_TEAM,
    Act.ESCALATE: CASE_TEAM,
    Act.BYPASS: frozenset({R, M, CO, SL, BU, CH}),  # CV-4/CV-15: the professional or manager raising it
    Act.PROTECTIVE_DATE: frozenset({R, C, M, CO, SL, BU}),
    Act.EXTEND: frozenset({M, CO, SL, BU}),  # a management decision, with its reason (CV: process issues)
    Act.URGENT_NOTICE: frozenset({R, C, M, CO, SL, BU}),
    Act.CLOSE: frozenset({R, M, CO, SL, BU, CH}),  # never by the counterpart alone
    Act.NAME_COUNTERPART: frozenset({R, M, CO, SL, BU}),
    Act.WRITTEN_OUTCOME: frozenset({C, M, CO, SL, BU}),  # the receiving agency writes to the raiser
    Act.DRAFT_RECORD: frozenset({R, C, M, CO, SL, BU}),
    Act.SIGN_RECORD: frozenset({R, C}),  # and only the record's own signatories
    Act.ACKNOWLEDGE: frozenset({M, CO, SL, AM, BU, CH}),  # a prompt asks managers to take ownership
    Act.FORM_PART: frozenset({R, C, M, CO, SL, BU}),  # and only the part's own side (see FORM_PART_BY)
    Act.RUN_REPORTS: frozenset({BU, CH, AD}),
    Act.REGISTER_CHANNEL: frozenset({BU, AD}),
    Act.EDIT_DIRECTORY: frozenset({BU, AD}),  # in chat: a leaver deactivated, or made active again
    Act.SET_COVER: frozenset({BU, AD}),  # anyone may mark themself away ('away until DATE')
    Act.TRAINING_CLOCK: frozenset({BU, AD}),  # and only on a training board (bot/admin/training.py)
}
# which roles complete a form part, by the part's "by" in the protocol (raising/responding: that side only)
FORM_PART_BY = {
    "raising": N_("the raiser, their managers or their agency's safeguarding lead"),
    "responding": N_("the counterpart, their managers or their agency's safeguarding lead"),
    "business_unit": N_("the board's business unit"),
    "line_manager": N_("a manager or safeguarding lead on the case"),
}
BOARD_WIDE = {Act.RUN_REPORTS, Act.REGISTER_CHANNEL, Act.EDIT_DIRECTORY, Act.SET_COVER, Act.TRAINING_CLOCK}

# the services' and conversation's action names -> the matrix
ACTION_NAMES: dict[str, Act] = {
    "view": Act.VIEW_CASE, "records": Act.VIEW_CASE, "form": Act.VIEW_CASE,
    "record_contact": Act.RECORD_CONTACT,
    "complete_step": Act.COMPLETE_STEP,
    "record_outcome": Act.RECORD_OUTCOME,
    "escalate": Act.ESCALATE, "escalate_exceptional": Act.ESCALATE,
    "bypass": Act.BYPASS,
    "set_protective_date": Act.PROTECTIVE_DATE,
    "extend": Act.EXTEND,
    "urgent_notice": Act.URGENT_NOTICE,
    "close": Act.CLOSE,
    "name_counterpart": Act.NAME_COUNTERPART,
    "send_written_outcome": Act.WRITTEN_OUTCOME,
    "draft_record": Act.VIEW_CASE, "new_record": Act.DRAFT_RECORD, "revise_record": Act.DRAFT_RECORD,
    "write_record": Act.DRAFT_RECORD,
    "sign_record": Act.SIGN_RECORD, "record_changes": Act.SIGN_RECORD, "request_record_changes": Act.SIGN_RECORD,
    "acknowledge": Act.ACKNOWLEDGE,
    "complete_form_part": Act.FORM_PART,
}


def roles_of(person: Person, case: Case | None, *, session: Session) -> set[Role]:
    out: set[Role] = set()
    if person.role == "business_unit":
        out.add(BU)
    if person.role == "chair":
        out.add(CH)
    if person.role == "admin":
        out.add(AD)
    if case is None:
        return out or {Role.OTHER}
    if person.board_id != case.board_id:
        return {Role.OTHER}  # another board's business unit or admin has no part in this case
    if person.id == case.raising_person_id:
        out.add(R)
    if case.responding_person_id is not None and person.id == case.responding_person_id:
        out.add(C)
    for pid in (case.raising_person_id, case.responding_person_id):
        party = repo.get_person(pid, session=session) if pid else None
        if party and person.id in {m.id for m in repo.managers_of(party, session=session)}:
            out.add(M)
    agencies = {a for a in (case.raising_agency_id, case.responding_agency_id) if a}
    for aid in agencies:
        ag = repo.get_agency(aid, session=session)
        if ag and ag.safeguarding_lead_id == person.id:
            out.add(SL)
    if (case.responding_person_id is None and person.agency_id == case.responding_agency_id
            and person.role in MANAGER_ROLES):
        out.add(M)  # the counterpart is not in the directory: their agency's managers stand in
    if person.agency_id in agencies and person.role in MANAGER_ROLES and not out & {M, SL}:
        out.add(AM)
    return out or {Role.OTHER}


def allowed(person: Person, act: Act, case: Case | None = None, *, session: Session) -> bool:
    return bool(roles_of(person, case, session=session) & MATRIX[act])


def who_may(T: Translator, act: Act) -> str:
    roles = [r for r in Role if r in MATRIX[act]]
    return ", ".join(T(ROLE_LABELS[r]) for r in roles)


def matrix_markdown() -> str:
    """docs/permissions.md: the matrix as a table (generated; a test checks the file matches)."""
    T = translator("en")
    roles = [r for r in Role]
    lines = ["# Who may do what", "",
             "Generated from `bot/cases/permissions.py` (`make permissions-doc`); enforced by the services in `bot/`, "
             "so it holds the same in Slack, Teams and the console. A refusal is a clear message to that person "
             "only, changes nothing and is recorded in the case's audit trail (or the board's audit entries "
             "when no case is named).", "",
             "| action | " + " | ".join(T(ROLE_LABELS[r]) for r in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for act in Act:
        cells = ["yes" if r in MATRIX[act] else "" for r in roles]
        lines.append(f"| {act.value} | " + " | ".join(cells) + " |")
    lines += ["", "Further limits inside an allowed role:", "",
              "- **sign a meeting record**: only the record's own signatories (normally the raiser and the "
              "counterpart), once each version; a locked record is changed only by a correction, signed again.",
              "- **complete a form part**: only the side the protocol names for that part:"]
    lines += [f"  - `{by}`: {T(text)}" for by, text in FORM_PART_BY.items()]
    lines += ["- **acknowledge an escalation**: only prompts of the person's own board.",
              "- **whoever covers for one of them**: while someone on the case (a party, a manager up their line, a "
              "safeguarding lead) is away (`away until DATE [cover NAME]`), whoever reads their messages (the cover "
              "named, else their line manager) may do what the absent person's manager may, and acknowledge what "
              "the absent person could. Anyone may mark themself away; **mark someone else away and name their "
              "cover** (`away EMAIL until DATE`, `back EMAIL`) is the business unit's or an administrator's "
              "([cover](directory.md#cover)).",
              "- **move a training board's clock**: only on a board marked as training (`parley board training`); a "
              "real board refuses it for everyone ([training.md](training.md)).",
              "- **view subject details**: the child's or adult's name, date of birth and address appear only "
              "in direct messages and forms for these roles, never in a channel.",
              "- **run reports**, **edit the directory**: command-line tools run by whoever administers the "
              "database (`parley report`, `parley export`, `parley directory import`, `parley demo load`); in chat "
              "the business unit and administrators deactivate a leaver and make them active again (`leaver EMAIL`, "
              "`reactivate EMAIL`: docs/directory.md); the business unit also gets the weekly digest and the "
              "quarterly data set in its channel (counts and case references only).",
              "- A person of another board (or a Slack workspace / Teams tenant the board does not use) is "
              "\"anyone else\" on every case.", ""]
    return "\n".join(lines)
