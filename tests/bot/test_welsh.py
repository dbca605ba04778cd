"""Welsh: the language command, a whole case in Welsh through the channel-neutral conversation, and the Welsh
boards' bilingual channel posts (Welsh first)."""

from __future__ import annotations

import datetime as dt
import re
import string
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cases import services
from bot.escalation import escalation
from bot.core.clock import FixedClock
from bot.core.i18n import Translator, extract_messages, in_languages
from bot.core.messages import Attachment, Button, Field, Message, Severity
from bot.escalation.scheduler import Sweeper
from bot.cases.services import Ctx
from protocol.loader import load_board
from storage import repo
from storage.models import EscalationPrompt, OutboxMessage
from tests.bot.test_scheduler import open_case
from tests.conftest import Chat

L = ZoneInfo("Europe/London")
MWW = "mid-and-west-wales"


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=L)


def seen(message: Message) -> list[str]:
    """Everything a reader sees of a message: title, text, fields, choices, hints and buttons."""
    out = [message.title or "", message.text]
    out += [f"{f.label}: {f.value}" for f in message.fields]
    if message.prompt:
        out += [c.label for c in message.prompt.choices] + [message.prompt.hint or ""]
    out += [b.label for b in message.buttons]
    return out


# -- the language command -------------------------------------------------------------------------
def test_language_cy_is_answered_in_welsh_saved_and_audited(runtime, clock) -> None:
    chat = Chat(runtime, clock, board=MWW)
    reply = chat.say("alice", "language cy")
    assert reply.to_speaker[0].text.startswith("Byddaf yn ysgrifennu atoch yn Gymraeg o hyn ymlaen.")
    assert "'iaith en'" in reply.to_speaker[0].text
    with runtime.factory() as s:
        assert repo.person_by_key(MWW, "alice", session=s).language == "cy"
        [entry] = repo.audit_entries(session=s, kind="language_set")
        assert entry.data == {"from": "en", "to": "cy"} and entry.actor_label == "Alice Hughes"
        assert entry.via == "console"
    # from now on Parley speaks Welsh to her, and Welsh commands work
    assert chat.say("alice", "rhestr").to_speaker[0].text.startswith("Does gennych chi ddim achosion agored.")
    assert chat.say("alice", "iaith").to_speaker[0].text.startswith("Rwy'n ysgrifennu atoch yn Gymraeg.")
    # and back: answered in English
    reply = chat.say("alice", "iaith en")
    assert reply.to_speaker[0].text.startswith("I'll write to you in English from now on.")
    assert chat.say("alice", "list").to_speaker[0].text.startswith("You have no open cases.")
    with runtime.factory() as s:
        assert [e.data["to"] for e in repo.audit_entries(session=s, kind="language_set")] == ["cy", "en"]


@pytest.mark.parametrize("word", ["Cymraeg", "welsh", "CY"])
def test_language_names_are_understood(sqlite_runtime, clock, word: str) -> None:
    chat = Chat(sqlite_runtime, clock, board=MWW)
    assert "Gymraeg" in chat.say("bob", f"iaith {word}").to_speaker[0].text


def test_an_unknown_language_is_refused_and_changes_nothing(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, board=MWW)
    reply = chat.say("alice", "language fr")
    assert reply.to_speaker[0].severity is Severity.ERROR
    assert "Parley speaks Welsh (cy) and English (en)" in reply.to_speaker[0].text
    with sqlite_runtime.factory() as s:
        assert repo.person_by_key(MWW, "alice", session=s).language == "en"
        assert not repo.audit_entries(session=s, kind="language_set")


def test_help_lists_the_language_command_in_both_languages(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, board=MWW)
    assert "language cy / language en" in chat.say("alice", "help").to_speaker[0].text
    chat.say("alice", "iaith cy")
    text = chat.say("alice", "cymorth").to_speaker[0].text
    assert "iaith cy / iaith en" in text and "newydd — codi pryder" in text


def test_the_language_service_records_the_change(sqlite_runtime) -> None:
    with sqlite_runtime.factory() as s:
        bob = repo.person_by_key(MWW, "bob", session=s)
        person = services.set_language(Ctx(bob, "slack", at(2026, 4, 2, 10)), "cy", session=s)
        s.commit()
        assert person.language == "cy"
        [entry] = repo.audit_entries(session=s, kind="language_set")
        assert entry.via == "slack" and entry.actor_id == bob.id


# -- a whole case in Welsh --------------------------------------------------------------------------
def english_fragments() -> set[str]:
    """Every piece of English Parley could show that is long enough to be unmistakably English: the catalogue's
    message ids split at their placeholders, and the protocol's English texts."""
    out: set[str] = set()
    for msgid in extract_messages():
        for literal, *_ in string.Formatter().parse(msgid):
            for piece in re.split(r"[\n:;()—·→•]", literal):
                piece = piece.strip(" .,'?\u201c\u201d")
                if len(piece.split()) >= 2:
                    out.add(piece)
    proto = load_board(MWW)
    texts = [proto.name, proto.immediate_risk.text, *proto.recipients.values()]
    texts += [c.title for c in proto.categories]
    for s in proto.stages:
        texts += [s.title, *(st.title for st in s.steps), *(r.title for r in s.records)]
    texts += [st.title for st in proto.after_resolution]
    out |= {t for t in texts if len(t.split()) >= 2}
    return out


# common English words that are not also Welsh words ("is", as in "Is-grŵp", is Welsh too)
ENGLISH_WORDS = {"the", "and", "of", "with", "your", "you", "was", "for", "by", "not", "stage", "due",
                 "working", "days", "case", "record", "outcome", "resolved", "agency", "next", "who", "what",
                 "please", "step", "deadline", "meeting", "none", "open", "closed", "concern", "after", "raised"}


def test_a_whole_case_in_welsh_has_no_untranslated_english(runtime, clock) -> None:
    """Alice (police) and Bob (children's services) both choose Welsh on a Mid & West Wales case: intake, the
    direct message to Bob, a contact, Bob's outcome (resolved, with the policy-gap question), the signed record
    of the resolution, the case, its timeline and its contact log. Apart from names and the text they typed,
    everything they see is Welsh, with Welsh dates."""
    chat = Chat(runtime, clock, board=MWW)
    saw: list[str] = []
    messages: list[Message] = []

    def say(who: str, text: str):
        reply = chat.say(who, text)
        for m in reply.to_speaker:
            saw.extend(seen(m))
            messages.append(m)
        for o in reply.queued:  # direct messages to the other (Welsh-speaking) party
            assert o.to.kind == "person"
            saw.extend(seen(o.message))
            messages.append(o.message)
        return reply

    say("alice", "iaith cy")
    say("bob", "iaith cy")
    say("alice", "newydd")
    for answer in ["na", "plentyn", "Trothwyon", "Caeodd y gwasanaethau plant yr atgyfeiriad ar ôl un ymweliad.",
                   "Ffoniais y gweithiwr cymdeithasol ddydd Llun.", "Ailagor yr atgyfeiriad a chwblhau asesiad.",
                   "heddiw", "Carmarthenshire Children's Services", "Bob Evans, Social Worker", "na", "hepgor"]:
        last = say("alice", answer)
    assert [c.value for c in last.to_speaker[-1].prompt.choices] == ["submit", "back", "cancel"]
    done = say("alice", "Cyflwyno")
    view = done.to_speaker[0]
    ref = view.case_ref
    assert ref == "MWW-2026-0001"
    assert view.title.endswith("Cam 1: Ymarferwyr yn datrys gyda'i gilydd")
    # MWW-3: 5 working days from the concern, Easter counted out; in Welsh, with a Welsh date
    assert ("Nesaf: Cam 1 — Trafod neu gyfarfod â'r person y mae gennych wahaniaeth proffesiynol ag ef neu â hi: "
            "erbyn Llun 13 Ebr 2026 (5 diwrnod gwaith ar ôl codi'r pryder, Iau 2 Ebr)") in view.text
    [dm] = done.queued
    assert dm.to.person_id == chat.pid("bob") and "Mae Alice Hughes wedi codi anghytundeb proffesiynol gyda chi." \
        in dm.message.text
    clock.set(at(2026, 4, 7, 11))
    say("alice", f"cyswllt {ref}")
    for answer in ["heddiw", "Bob Evans, gweithiwr cymdeithasol", "Cyfarfod", "Cytunwyd i gynnal asesiad.",
                   "Trafod neu gyfarfod â'r person y mae gennych wahaniaeth proffesiynol ag ef neu â hi"]:
        say("alice", answer)
    say("bob", f"canlyniad {ref}")
    say("bob", "Wedi'i ddatrys")
    flag = say("bob", "Bydd yr asesiad wedi'i gwblhau erbyn dydd Gwener.").to_speaker[-1]
    assert flag.text.startswith("Ydy hyn yn berthnasol i'r achos hwn? Cyfeirio'r mater gweithdrefnol")
    resolved = say("bob", "na").to_speaker[0]
    assert "Wedi'i ddatrys — Cam 1: Ymarferwyr yn datrys gyda'i gilydd." in resolved.text
    # the signed record of the disagreement and its resolution (MWW-N5), drafted by Alice and signed by Bob
    say("alice", f"cofnod {ref}")
    for answer in ["Cofnod ysgrifenedig o'r anghytundeb a'r datrysiad y cytunwyd arno, wedi'i lofnodi gan y ddau "
                   "barti", "heddiw", "Alice Hughes a Bob Evans", "Trothwy'r atgyfeiriad.", "Asesiad llawn.",
                   "dim", "Bob i gwblhau'r asesiad erbyn dydd Gwener."]:
        say("alice", answer)
    drafted = say("alice", "Cyflwyno")
    [to_bob] = drafted.queued
    assert "Llofnodi" in [b.label for b in to_bob.message.buttons]
    signed = say("bob", f"llofnodi {ref} 1")
    assert signed.to_speaker[0].text.startswith("Rydych wedi llofnodi cofnod 1. Mae pawb wedi'i lofnodi bellach")
    say("alice", f"achos {ref}")
    say("alice", f"achos {ref} hanes")
    log = say("alice", f"achos {ref} log").to_speaker[0]
    assert "Cam 1 | Maw 7 Ebr 2026 | Bob Evans, gweithiwr cymdeithasol | Cyfarfod | Cytunwyd i gynnal asesiad." \
        in log.text

    # what they typed, and the names of people and agencies, are theirs: take them out, then look for English
    def check(shown: str) -> None:
        with runtime.factory() as s:
            for p in repo.people(MWW, session=s):
                shown = shown.replace(f"{p.name}, {p.title}", "").replace(p.name, "").replace(p.title or "\0", "")
            for a in repo.agencies(MWW, session=s):
                shown = shown.replace(a.name, "")
        leaks = sorted(f for f in english_fragments() if f in shown)
        assert not leaks, leaks
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", shown)}
        assert not words & ENGLISH_WORDS, sorted(words & ENGLISH_WORDS)
        assert "Ebr" in shown and "Apr" not in shown

    check("\n".join(saw))
    # and as each adapter renders it for a Welsh speaker: console text, Slack Block Kit, a Teams Adaptive Card
    from adapters.console.render import render
    from adapters.slack.blocks import message_blocks
    from adapters.teams.cards import message_card

    cy = Translator("cy")
    check("\n".join(render(m, T=cy)[0] for m in messages))
    check("\n".join(_texts_of(message_blocks(m, T=cy)) for m in messages))
    check("\n".join(_texts_of(message_card(m, T=cy)) for m in messages))


def _texts_of(rendered) -> str:
    """Every string a person reads in rendered Block Kit or an Adaptive Card (not ids, urls or routing values)."""
    out: list[str] = []

    def walk(node, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("text", "title", "placeholder", "altText", "fallbackText", "label",
                                               "alt_text") and not node.startswith(("http", "case.",
                                                                                             "esc.", "answer")):
            out.append(node)

    walk(rendered)
    return "\n".join(out)


# -- bilingual channel posts ----------------------------------------------------------------------
def _channel_posts(rt, case_id: int | None = None) -> list[OutboxMessage]:
    with rt.factory() as s:
        q = select(OutboxMessage).where(OutboxMessage.target_kind == "channel").order_by(OutboxMessage.id)
        if case_id is not None:
            q = q.where(OutboxMessage.case_id == case_id)
        return list(s.scalars(q))


def test_an_escalation_on_a_mid_and_west_wales_case_posts_welsh_first(sqlite_runtime) -> None:
    """MWW-5: Stage 1 runs out 10 working days after the concern (Thu 2 Apr 2026, Easter counted out: Mon 20 Apr).
    The prompt in each line-manager channel carries the Welsh first, then the English; its buttons are
    bilingual; the practitioners' own messages are in their own language."""
    rt = sqlite_runtime
    cid = open_case(rt, MWW, at(2026, 4, 2, 10), subject_name="Jamie Doe")
    with rt.factory() as s:
        repo.person_by_key(MWW, "alice", session=s).language = "cy"
        s.commit()
    Sweeper(rt.factory, FixedClock(at(2026, 4, 21, 9, 0))).fire_due()
    posts = _channel_posts(rt, cid)
    assert sorted(p.address for p in posts) == ["#csc-team-managers", "#police-sgt-managers"]
    for post in posts:
        text = post.payload["text"]
        welsh = text.index("Aeth terfyn amser Cam 1 heibio (Llun 20 Ebr 2026 17:00) heb i ganlyniad gael ei "
                           "gofnodi.")
        english = text.index("The Stage 1 deadline passed on Mon 20 Apr 2026 17:00 with no outcome recorded.")
        assert welsh < english
        assert "Nesaf o dan y protocol: Cam 2: Rheolwyr llinell — rheolwyr llinell neu arweinwyr diogelu a enwir." \
            in text
        assert "Next under the protocol: Stage 2: Line managers — line managers or named safeguarding leads." in text
        # the English half is headed by the English headline; the post's title is the Welsh one
        assert post.payload["title"].endswith("Cam 1: Ymarferwyr yn datrys gyda'i gilydd")
        assert "Stage 1: Practitioners resolve together" in text[welsh:]
        assert [b[1] for b in post.payload["buttons"]] == [
            "Cydnabod / cymryd perchnogaeth | Acknowledge / take ownership",
            "Wedi'i ddatrys eisoes | Already resolved", "Gweld yr achos | View case"]
        assert [b[0] for b in post.payload["buttons"]] == ["esc.ack", "case.record_outcome", "case.view"]
        assert "Jamie" not in str(post.payload)
    with rt.factory() as s:
        alice = repo.person_by_key(MWW, "alice", session=s).id
        bob = repo.person_by_key(MWW, "bob", session=s).id
        dms = {r.person_id: r.payload["text"] for r in s.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == cid, OutboxMessage.target_kind == "person")) if "Stage 1" in r.payload["text"]
            or "Cam 1" in r.payload["text"]}
    assert dms[alice].startswith("Mae terfyn amser Cam 1 ar MWW-2026-0001 wedi mynd heibio")
    assert dms[bob].startswith("The Stage 1 deadline on MWW-2026-0001 has passed")


def test_the_acknowledgement_updates_the_welsh_board_post_in_both_languages(sqlite_runtime) -> None:
    rt = sqlite_runtime
    cid = open_case(rt, MWW, at(2026, 4, 2, 10))
    Sweeper(rt.factory, FixedClock(at(2026, 4, 21, 9, 0))).fire_due()
    with rt.factory() as s:
        prompt = s.scalar(select(EscalationPrompt.id).where(EscalationPrompt.case_id == cid,
                                                            EscalationPrompt.agency_key == "police"))
        sam = repo.person_by_key(MWW, "sam", session=s)
        escalation.acknowledge(Ctx(sam, "console", at(2026, 4, 21, 10, 5)), prompt, session=s)
        s.commit()
    updates = {p.address: p.payload["text"] for p in _channel_posts(rt, cid) if p.update_of_id is not None}
    assert set(updates) == {"#csc-team-managers", "#police-sgt-managers"}
    police = updates["#police-sgt-managers"]
    assert police.index("Cydnabuwyd gan Sam Patel am 10:05, Maw 21 Ebr.") < police.index(
        "Acknowledged by Sam Patel at 10:05 on Tue 21 Apr.")
    assert "Mae'r achos bellach ar y cam hwn: Cam 2: Rheolwyr llinell." in police


def test_the_welsh_boards_weekly_digest_is_welsh_first_and_english_boards_stay_english(sqlite_runtime) -> None:
    rt = sqlite_runtime
    open_case(rt, MWW, at(2026, 4, 2, 10))
    open_case(rt, "swindon", at(2026, 4, 2, 10))
    sw = Sweeper(rt.factory, FixedClock(at(2026, 4, 2, 12)))
    sw.ensure_board_timers()
    sw.clock = FixedClock(at(2026, 4, 7, 9, 5))
    sw.sweep()
    with rt.factory() as s:
        digests = {r.board_id: r for r in s.scalars(select(OutboxMessage).where(OutboxMessage.timer_id.is_not(None),
                                                                               OutboxMessage.case_id.is_(None)))
                   if r.payload["title"].startswith(("Weekly digest", "Crynodeb wythnosol"))}
    mww, swn = digests[MWW].payload, digests["swindon"].payload
    assert mww["title"].startswith("Crynodeb wythnosol — Bwrdd Diogelu Canolbarth a Gorllewin Cymru")
    assert mww["text"].index("Newydd yr wythnos hon: 1.") < mww["text"].index("New this week: 1.")
    assert "Weekly digest — Mid & West Wales Safeguarding Board" in mww["text"]
    # a chart in each language, each its own file
    names = [a["filename"] for a in mww["attachments"]]
    assert len(names) == 2 and len(set(names)) == 2 and names[1].endswith("-en.png")
    assert swn["title"].startswith("Weekly digest — Swindon") and "Crynodeb" not in swn["text"]
    assert len(swn["attachments"]) == 1


def test_in_languages_joins_the_copies_welsh_first() -> None:
    def build(T: Translator) -> Message:
        return Message(T("Urgent notice sent."), title=T("Stage {n}", n=1),
                       fields=(Field(T("Status"), T("open")), Field(T("Category"), "Trothwyon")),
                       buttons=(Button("case.view", T("View case"), "MWW-2026-0001"),),
                       attachments=(Attachment("c.png", "image/png", T("Yes").encode(), T("Records")),),
                       severity=Severity.URGENT, case_ref="MWW-2026-0001")

    m = in_languages(("cy", "en"), build)
    assert m.title == "Cam 1"
    assert m.text == "Anfonwyd yr hysbysiad brys.\n\nStage 1\nUrgent notice sent."
    assert m.fields == (Field("Statws | Status", "ar agor | open"), Field("Categori | Category", "Trothwyon"))
    assert m.buttons == (Button("case.view", "Gweld yr achos | View case", "MWW-2026-0001"),)
    assert [a.filename for a in m.attachments] == ["c.png", "c-en.png"]
    assert m.severity is Severity.URGENT and m.case_ref == "MWW-2026-0001"
    # one language: the message as built
    assert in_languages(("en",), build) == build(Translator("en"))
    assert in_languages((), build) == build(Translator("en"))


def test_every_action_a_refusal_names_is_translated() -> None:
    """A refusal names the action ("Sorry, you can't {action} on {ref}"): each is in the catalogues, in Welsh."""
    from bot.cases.permissions import ACT_WORDS, Act

    assert set(ACT_WORDS) == {a.value for a in Act}
    assert {a.value for a in Act} <= set(extract_messages())
    T = Translator("cy")
    assert T(Act.ACKNOWLEDGE.value) == "cydnabod uwchgyfeiriad"
    assert all(T(a.value) != a.value for a in Act)


def test_the_intake_form_for_slack_and_teams_reads_in_welsh() -> None:
    """The form a Slack modal or a Teams card shows: Parley's questions and the protocol's own text in Welsh
    (Cardiff and Vale: its precondition, categories and name)."""
    from bot.forms.forms import intake_form

    form = intake_form(Translator("cy"), load_board("cardiff-and-vale"), [(1, "South Wales Police")])
    fields = {f.id: f for f in form.fields}
    assert fields["pre0"].label == ("Ydych chi eisoes wedi ceisio datrys hyn gyda'ch swyddog cyfatebol yn yr "
                                    "asiantaeth arall?")
    assert [c.label for c in fields["category"].choices][:2] == ["Safbwyntiau gwahanol ar drothwyon",
                                                                 "Dealltwriaeth o rolau a chyfrifoldebau"]
    assert form.title == "Codi pryder" and form.submit_label == "Cyflwyno"
    assert form.intro == "Bwrdd: Bwrdd Diogelu Caerdydd a'r Fro (ei brotocol sy'n pennu'r camau a'r terfynau amser)."
    english = intake_form(Translator("en"), load_board("cardiff-and-vale"), [])
    assert {f.id: f for f in english.fields}["category"].choices[0].label == "Differing views on thresholds"
