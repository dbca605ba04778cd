"""Adaptive Cards for Teams: every card built from real case views, escalation prompts and every seed board's
forms is valid against the official Adaptive Cards 1.5 schema and within Teams' rules; hostile text is
neutralised; Action.Execute verbs and data round-trip through form_values / context_of into a real case."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from typing import Any

import pytest
from sqlalchemy import select

from adapters.teams.card_checks import check_limits, validate
from adapters.teams.card_forms import context_of, form_card, form_values, verb_of
from adapters.teams.card_parts import ANSWER_ACTION, CARD_MAX_BYTES, ELLIPSIS, MAX_ACTIONS, VIEW_ACTION, md_escape
from adapters.teams.cards import _message_card, attachment, card_size, message_card
from bot.core.clock import FixedClock
from bot.forms.forms import INTAKE_FORM, OUTCOME_FORM, RISK_FORM, Forms
from bot.core.i18n import translator
from bot.core.messages import Button, Choice, Field, FieldKind, Form, FormField, Message, Prompt, PromptKind, Severity, message_from_data
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import Case, OutboxMessage
from tests.bot.test_conversation import INTAKE_SWINDON
from tests.bot.test_scheduler import open_case
from tests.conftest import LONDON, Chat, texts

BOARDS = ["swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HOSTILE = ("<at>Everyone</at> <AT id=\"0\">Bob</AT> [click here](http://evil.example) "
           "![img](http://evil.example/x.png) "
           "<http://evil.example> **bold** _it_ `code` ~~gone~~ &lt;at&gt; {{DATE(2017-02-14T06:08:39Z, SHORT)}}")
RLO = "\u202eSWN-2026-0001\u202c \u2066isolate\u2069 \u202aembed\u202c"
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MARKDOWN = "\\`*_~[]<"


# -- helpers ------------------------------------------------------------------------------------------------
def schema_problems(card: dict, *, strict: bool = False) -> list[str]:
    try:
        return validate(card, strict=strict)
    except FileNotFoundError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but the Adaptive Cards schema is missing: {exc}")
        pytest.skip(str(exc))


def unescaped(text: str) -> list[str]:
    """Markdown characters in ``text`` that are not backslash-escaped."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in MARKDOWN:
            out.append(text[i])
        i += 1
    return out


def markdown_texts(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string a Teams client renders as markdown: TextBlock text, Fact title and value, fallbackText."""
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            out.append((f"{path}.text", node["text"]))
        if "facts" in node:
            for i, f in enumerate(node["facts"]):
                out += [(f"{path}.facts[{i}].title", f["title"]), (f"{path}.facts[{i}].value", f["value"])]
        if isinstance(node.get("fallbackText"), str):
            out.append((f"{path}.fallbackText", node["fallbackText"]))
        for k, v in node.items():
            out += markdown_texts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += markdown_texts(v, f"{path}[{i}]")
    return out


def strings(node: Any, *, typed: bool = True) -> list[str]:
    """Every string in the card; without ``typed``, not the inputs' values (given back as the person typed
    them: plain text, never rendered as markdown or mentions)."""
    if isinstance(node, dict):
        skip = not typed and str(node.get("type", "")).startswith("Input.")
        return [s for k, v in node.items() if not (skip and k == "value") for s in strings(v, typed=typed)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v, typed=typed)]
    return [node] if isinstance(node, str) else []


def assert_card(card: dict) -> dict:
    """Valid against the 1.5 schema (strictly: no exemptions), within Teams' rules, and safe: no mention
    tag, bidi or control character anywhere; every markdown character in rendered text escaped; no {{ }}."""
    assert schema_problems(card) == [], schema_problems(card)[:5]
    assert schema_problems(card, strict=True) == []
    assert check_limits(card) == []
    assert card["version"] == "1.5" and card["type"] == "AdaptiveCard"
    for s in strings(card):
        assert not BIDI.search(s) and not CONTROL.search(s), s[:80]
    for s in strings(card, typed=False):
        assert not re.search(r"</?\s*at\b", s, re.IGNORECASE), s[:80]
    for path, text in markdown_texts(card):
        assert not unescaped(text), (path, text[:200])
        assert "{{" not in text, (path, text[:200])
        assert not re.search(r"(?<!\\)\]\(", text), (path, text[:200])
    return card


def render(m: Message) -> dict:
    return assert_card(message_card(m))


def all_actions(actions: list[dict]) -> list[dict]:
    """Every button, in order, with ShowCard submenus flattened."""
    out = []
    for a in actions:
        if a["type"] == "Action.ShowCard":
            out += all_actions(a["card"].get("actions", []))
        else:
            out.append(a)
    return out


def verbs(card: dict) -> list[str]:
    return [a["verb"] for a in all_actions(card.get("actions", []))]


def inputs(card: dict) -> list[dict]:
    return [e for e in card["body"] if e["type"].startswith("Input.")]


def hostile_message(**over: Any) -> Message:
    base: dict[str, Any] = dict(
        title=f"{HOSTILE} {RLO} " * 5,
        text=(f"{HOSTILE}\n{RLO}\n" + "Long & <winding> *text*. " * 500)[:10_000],
        fields=tuple(Field(f"Label {i} <at>U{i}</at> [x](http://evil)", f"{HOSTILE} " * 40) for i in range(20)),
        buttons=tuple(Button(f"case.act{i % 7}", f"Button {i} {HOSTILE}", f"SWN-2026-{i:04d}",
                             "primary" if i == 0 else ("danger" if i == 1 else ("bogus" if i == 2 else None)))
                      for i in range(12)),
        prompt=Prompt("category", PromptKind.CHOICE,
                      tuple(Choice(f"c{i}", f"Choice {i} {HOSTILE}") for i in range(4)), hint=HOSTILE),
        severity=Severity.URGENT,
        case_ref="SWN-2026-0001",
    )
    base.update(over)
    return Message(**base)


# -- escaping ---------------------------------------------------------------------------------------------
def test_md_escape_neutralises_mentions_links_markdown_and_controls() -> None:
    out = md_escape(HOSTILE + " " + RLO + "\x07")
    assert "<at" not in out.lower() and "</at>" not in out.lower()
    assert out.startswith("Everyone Bob \\[click here\\](http://evil.example) !\\[img\\]")
    assert "\\<http://evil.example>" in out and "\\*\\*bold\\*\\*" in out and "\\_it\\_" in out
    assert "\\`code\\`" in out and "\\~\\~gone\\~\\~" in out
    assert "\\&lt;at\\&gt;" in out  # an entity reference is shown as typed, never decoded into a tag
    assert "{{" not in out and "{\u200b{DATE" in out
    assert "SWN-2026-0001 isolate embed" in out and not BIDI.search(out) and "\x07" not in out
    assert not unescaped(out)
    # line-start block markers (each line is its own TextBlock, so only line starts matter)
    assert md_escape("# h\n> q\n- i\n+ i\n1. one\n22) two\n---\n===\n    code") == \
        "\\# h\n\\> q\n\\- i\n\\+ i\n1\\. one\n22\\) two\n\\---\n\\===\ncode"
    # ordinary prose is left alone
    assert md_escape("Stage 1 (Internal discussion): due by Wed 8 Apr 2026 — A&B, 5 + 3 = 8.") == \
        "Stage 1 (Internal discussion): due by Wed 8 Apr 2026 — A&B, 5 + 3 = 8."


def test_hostile_message_is_valid_within_limits_and_neutralised() -> None:
    m = hostile_message()
    card = render(m)
    title = card["body"][0]
    assert title["weight"] == "bolder" and title["color"] == "attention" and title["text"].startswith("\U0001f6a8 ")
    assert title["text"].endswith(ELLIPSIS) and len(title["text"].encode()) <= 400
    texts_ = [b["text"] for b in card["body"][1:] if b["type"] == "TextBlock"]
    assert texts_[0].startswith("Everyone Bob \\[click here\\]")
    assert texts_[1] == "SWN-2026-0001 isolate embed"
    assert texts_[-2].endswith(ELLIPSIS) or texts_[-1].endswith(ELLIPSIS)
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert len(facts) == 15 and facts[-1]["value"] == "6 more"  # 14 shown and a count of the rest
    assert facts[0]["title"] == "Label 0 U0 \\[x\\](http://evil)"
    hint = next(b for b in card["body"] if b.get("isSubtle"))
    assert hint["text"].startswith("Everyone Bob \\[click here\\]")
    assert card_size(card) <= CARD_MAX_BYTES
    # the 4 answers are too long for buttons: a list on the card (wrapping) with Send and Cancel; then the 12
    # buttons and "View full record" (the text was cut)
    answer = next(b for b in card["body"] if b.get("id") == "value")
    assert answer["type"] == "Input.ChoiceSet" and answer["wrap"] is True
    assert [c["value"] for c in answer["choices"]] == ["c0", "c1", "c2", "c3"]
    acts = all_actions(card["actions"])
    assert [a["verb"] for a in acts] == [ANSWER_ACTION, "reply"] + [f"case.act{i % 7}" for i in range(12)] + \
        [VIEW_ACTION]
    assert acts[1]["associatedInputs"] == "none" and acts[1]["data"] == {"reply": "cancel"}
    assert acts[-1]["data"] == {"value": "SWN-2026-0001"} and acts[-1]["title"] == "View full record"
    assert [a.get("style") for a in acts[2:6]] == ["positive", "destructive", None, None]
    for a in acts:  # action titles are plain text: cleaned, not escaped
        assert "<at" not in a["title"].lower() and "\\" not in a["title"]


def test_more_than_six_actions_go_into_nested_more_menus() -> None:
    buttons = tuple(Button(f"case.b{i}", f"B{i}", str(i)) for i in range(14))
    card = render(Message("Pick one", buttons=buttons))
    top = card["actions"]
    assert len(top) == MAX_ACTIONS and [a["type"] for a in top[:5]] == ["Action.Execute"] * 5
    more = top[5]
    assert more["type"] == "Action.ShowCard" and more["title"] == "9 more"
    inner = more["card"]["actions"]
    assert len(inner) == 6 and inner[5]["type"] == "Action.ShowCard" and inner[5]["title"] == "4 more"
    assert verbs(card) == [f"case.b{i}" for i in range(14)]
    # exactly six stay on the card itself
    assert [a["type"] for a in render(Message("x", buttons=buttons[:6]))["actions"]] == ["Action.Execute"] * 6


def test_buttons_are_execute_with_a_submit_fallback_carrying_the_verb() -> None:
    m = Message("Text", buttons=(Button("esc.ack", "Acknowledge", "42", "primary"),
                                 Button("case.close", "Close", "SWN-2026-0001", "danger"),
                                 Button("case.view", "View", "SWN-2026-0001")),
                prompt=Prompt("risk", PromptKind.CHOICE, (Choice("yes", "Yes"), Choice("no", "No"))))
    card = render(m)
    got = [(a["verb"], a["data"], a.get("style"), a["fallback"]["type"], a["fallback"]["data"])
           for a in card["actions"]]
    assert got == [
        ("answer", {"value": "yes"}, None, "Action.Submit", {"verb": "answer", "value": "yes"}),
        ("answer", {"value": "no"}, None, "Action.Submit", {"verb": "answer", "value": "no"}),
        ("esc.ack", {"value": "42"}, "positive", "Action.Submit", {"verb": "esc.ack", "value": "42"}),
        ("case.close", {"value": "SWN-2026-0001"}, "destructive", "Action.Submit",
         {"verb": "case.close", "value": "SWN-2026-0001"}),
        ("case.view", {"value": "SWN-2026-0001"}, None, "Action.Submit",
         {"verb": "case.view", "value": "SWN-2026-0001"}),
    ]
    for a in card["actions"]:
        # what the app reads back: the verb (beside the data, or inside the fallback's data) and the value
        assert verb_of(a["fallback"]["data"]) == a["verb"]
        assert a["fallback"]["data"]["value"] == a["data"]["value"]
        assert form_values(a["data"]) == {} and form_values(a["fallback"]["data"]) == {}
        assert a["fallback"]["title"] == a["title"]


def test_long_text_is_cut_with_an_ellipsis_and_a_view_full_record_action() -> None:
    m = Message(text="Paragraph of text & more.\n" * 800, title="SWN-2026-0001", case_ref="SWN-2026-0001")
    card = render(m)
    blocks = [b["text"] for b in card["body"][1:]]
    assert 1 < len(blocks) <= 40 and blocks[-1].endswith(ELLIPSIS)
    assert sum(len(b.encode()) for b in blocks) <= 8_000
    assert card["actions"][-1]["verb"] == VIEW_ACTION and card["actions"][-1]["data"] == {"value": "SWN-2026-0001"}
    # one 10,000-character line is cut too
    one = render(Message(text="x" * 10_000, case_ref="SWN-2026-0001"))
    assert one["body"][0]["text"].endswith(ELLIPSIS) and len(one["body"][0]["text"]) < 8_000
    assert verbs(one) == [VIEW_ACTION]
    # no case, nothing to link to; short text is never cut; an existing case.view is not repeated
    assert verbs(render(Message(text="x " * 10_000))) == []
    assert verbs(render(Message(text="short", case_ref="SWN-2026-0001"))) == []
    again = render(Message(text="y" * 10_000, case_ref="SWN-2026-0001",
                           buttons=(Button(VIEW_ACTION, "View case", "SWN-2026-0001"),)))
    assert verbs(again) == [VIEW_ACTION]


def test_a_card_over_28_kb_is_rebuilt_with_less_text_and_keeps_every_action() -> None:
    m = hostile_message(title="\U0001f6a8" * 300, text="\u0175\u0177 " * 5_000, prompt=None,
                        fields=tuple(Field("\U0001f4c5" * 50, "\u00e2" * 600) for _ in range(20)),
                        buttons=tuple(Button(f"case.b{i}", "\u00e9" * 80, "R" * 500) for i in range(10)))
    full = _message_card(m, translator(), 1.0)
    assert card_size(full) > CARD_MAX_BYTES  # this one really is too big at full size
    card = render(m)
    assert card_size(card) <= CARD_MAX_BYTES
    assert verbs(card) == [f"case.b{i}" for i in range(10)] + [VIEW_ACTION]
    assert all(a["data"]["value"] == "R" * 500 for a in all_actions(card["actions"])[:10])
    assert card["body"][1]["text"].startswith("\u0175\u0177") and card["body"][1]["text"].endswith(ELLIPSIS)


def test_severity_is_shown_on_the_title_or_the_first_line() -> None:
    expected = {Severity.URGENT: ("\U0001f6a8 ", "attention"), Severity.WARNING: ("\u26a0\ufe0f ", None),
                Severity.SUCCESS: ("\u2705 ", None), Severity.ERROR: ("\u2716\ufe0f ", "attention"),
                Severity.INFO: ("", None)}
    for severity, (emoji, color) in expected.items():
        titled = render(Message("Body", title="Title", severity=severity))
        assert titled["body"][0]["text"] == f"{emoji}Title" and titled["body"][0].get("color") == color
        assert titled["body"][0]["weight"] == "bolder"
        assert titled["body"][1]["text"] == "Body"
        bare = render(Message("Body", severity=severity))
        assert bare["body"][0]["text"] == f"{emoji}Body"
    assert render(Message("Go now", severity=Severity.URGENT))["body"][0]["color"] == "attention"
    assert render(Message(""))["body"][0]["text"] == ELLIPSIS  # never an empty card


def test_multi_line_text_is_one_text_block_per_line() -> None:
    card = render(Message("First line\nSecond line\n\nNew paragraph\n  • a bullet"))
    got = [(b["text"], b.get("spacing")) for b in card["body"]]
    assert got == [("First line", None), ("Second line", "none"), ("New paragraph", None), ("• a bullet", "none")]
    assert all(b["wrap"] is True for b in card["body"])


def test_attachment_wraps_the_card() -> None:
    card = message_card(Message("Hello"))
    att = attachment(card)
    assert att.content_type == "application/vnd.microsoft.card.adaptive" and att.content == card


# -- the schema check itself ------------------------------------------------------------------------------
def test_validate_is_not_vacuous() -> None:
    good = message_card(Message("Hello", buttons=(Button("case.view", "View", "SWN-2026-0001"),)))
    assert schema_problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["body"][0].pop("text")  # a TextBlock needs text
    bad["actions"][0]["verbb"] = "x"  # unknown property
    bad["body"].append({"type": "Input.Text", "label": "no id"})  # an input needs an id
    assert len(schema_problems(bad)) == 3, schema_problems(bad)
    # no exemption any more: the people picker is a plain 1.5 ChoiceSet, and "filtered" (1.6) is refused (T14)
    form = Form("f", "t", "s", (FormField("p", "Person", FieldKind.PERSON),))
    picker = form_card(form, people=[("1", "Bob Evans")])
    assert inputs(picker)[0]["style"] == "compact"
    assert schema_problems(picker) == []
    filtered = json.loads(json.dumps(picker))
    inputs(filtered)[0]["style"] = "filtered"
    assert len(schema_problems(filtered)) == 1
    other = json.loads(json.dumps(picker))
    inputs(other)[0]["style"] = "bogus"
    assert len(schema_problems(other)) == 1
    # a card-level "msteams" (a Teams extension the schema does not know) is left out of the check
    assert schema_problems({**good, "msteams": {"width": "Full"}}) == []


def test_check_limits_reports_each_breach() -> None:
    execute = {"type": "Action.Execute", "title": "x", "verb": "v", "data": {}}
    card = {"type": "AdaptiveCard", "version": "1.6", "body": [
        {"type": "Input.Text", "id": "a"}, {"type": "Container", "items": [{"type": "Input.Text", "id": "a"}]},
        {"type": "TextBlock", "text": "\u202eevil" + "x" * CARD_MAX_BYTES}],
        "actions": [execute] * 7}
    problems = check_limits(card)
    assert any(p.startswith("version") for p in problems)
    assert any(p.startswith("size") for p in problems)
    assert any("used twice" in p for p in problems)
    assert any("7 actions" in p for p in problems)
    assert any("without an Action.Submit fallback" in p for p in problems)
    assert any("bidi" in p for p in problems)


# -- real views through the services --------------------------------------------------------------------------
def test_real_conversation_case_view_list_and_dm_render(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, platform="teams")
    rendered: list[dict] = []

    def show(reply) -> None:
        for m in reply.to_speaker + [ob.message for ob in reply.queued]:
            rendered.append(render(m))

    show(chat.say("alice", "new"))
    answers = list(INTAKE_SWINDON)
    answers[3] = f"CSC closed the referral {HOSTILE} {RLO}"
    for a in answers:
        show(chat.say("alice", a))
    done = chat.say("alice", "submit")
    show(done)
    ref = done.to_speaker[0].case_ref
    assert ref, texts(done)
    view = chat.say("alice", f"case {ref}")
    show(view)
    card = render(view.to_speaker[0])
    assert card["body"][0]["weight"] == "bolder" and card["body"][0]["text"].startswith(ref)
    assert any(b["type"] == "FactSet" for b in card["body"])
    assert "case.record_outcome" in verbs(card)
    assert all(a["data"] == {"value": ref} for a in all_actions(card["actions"]))
    show(chat.say("alice", "list"))
    show(chat.say("alice", f"case {ref} timeline"))
    show(chat.say("bob", "list"))
    # the first question's choices route as "answer" with the choice value
    first = render(chat.say("alice", "new").to_speaker[0])
    assert [(a["verb"], a["data"]) for a in first["actions"]] == [("answer", {"value": "yes"}),
                                                                  ("answer", {"value": "no"})]
    chat.say("alice", "cancel")
    # the hostile description is shown back (in the summary before submitting), neutralised
    shown = [t for c in rendered for _, t in markdown_texts(c)]
    assert any("CSC closed the referral Everyone Bob \\[click here\\](http://evil.example)" in t for t in shown)
    assert any("SWN-2026-0001 isolate embed" in t for t in shown)
    assert len(rendered) > 10


def test_urgent_route_message_is_marked(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, platform="teams")
    chat.say("alice", "new")
    route = chat.say("alice", "yes").to_speaker[0]
    assert route.severity is Severity.URGENT
    card = render(route)
    first = card["body"][0]
    assert first["text"].startswith("\U0001f6a8 ") and first["color"] == "attention"
    assert any("999" in b["text"] for b in card["body"])


def test_escalation_prompt_from_the_outbox_renders_with_its_buttons(sqlite_runtime) -> None:
    rt = sqlite_runtime
    chat = Chat(rt, FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON)), platform="teams")
    chat.say("alice", "new")
    chat.script("alice", *INTAKE_SWINDON)
    chat.say("alice", "submit")
    Sweeper(rt.factory, FixedClock(dt.datetime(2026, 4, 9, 9, 0, tzinfo=LONDON))).fire_due()
    with rt.factory() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert rows
    for row in rows:
        render(message_from_data(row.payload))
    post = next(r for r in rows if r.address == "#police-sgt-managers")
    card = render(message_from_data(post.payload))
    assert verbs(card) == ["esc.ack", "case.record_outcome", "case.view"]
    assert card["actions"][0]["style"] == "positive"
    # readable: the ⚠ in the default colour, never Teams' yellow "warning" on white (T13)
    assert card["body"][0]["text"].startswith("\u26a0\ufe0f ") and "color" not in card["body"][0]
    assert any("The Stage 1 deadline passed on Wed 8 Apr 2026 17:00" in b.get("text", "") for b in card["body"])


# -- seed boards' forms ------------------------------------------------------------------------------------
KIND_TO_INPUT = {FieldKind.CHOICE: "Input.ChoiceSet", FieldKind.TEXT: "Input.Text",
                 FieldKind.LONG_TEXT: "Input.Text", FieldKind.DATE: "Input.Date"}


def check_form_card(form: Form, card: dict, people: list[tuple[str, str]] | None) -> None:
    assert_card(card)
    got = inputs(card)
    assert [e["id"] for e in got] == [f.id for f in form.fields]
    for f, e in zip(form.fields, got):
        expected = KIND_TO_INPUT.get(f.kind) or ("Input.ChoiceSet" if people else "Input.Text")
        assert e["type"] == expected, f.id
        assert e.get("isRequired", False) is (not f.optional), f.id
        assert bool(e.get("errorMessage")) is (not f.optional), f.id
        assert e["label"], f.id
        if f.kind is FieldKind.CHOICE:
            assert [c["value"] for c in e["choices"]] == [c.value for c in f.choices]
            assert e["style"] == ("expanded" if len(f.choices) <= 3 else "compact")
        if f.kind is FieldKind.PERSON and people:
            assert e["style"] == "compact" and [c["value"] for c in e["choices"]] == [v for v, _ in people]
        if f.kind is FieldKind.LONG_TEXT:
            assert e["isMultiline"] is True and e["maxLength"] == f.max_length
        if f.kind is FieldKind.TEXT and f.max_length:
            assert e["maxLength"] == f.max_length
    (submit,) = card["actions"]
    assert submit["type"] == "Action.Execute" and submit["verb"] == form.id
    card_id = submit["data"]["card"]  # this rendering of the form: a resubmission of it is recognised
    assert len(card_id) == 16 and form_card(form)["actions"][0]["data"]["card"] != card_id
    assert submit["data"] == {"context": form.context, "card": card_id} and submit["title"] == form.submit_label
    assert submit["fallback"]["data"] == {"verb": form.id, "context": form.context, "card": card_id}


def _people(rt, board: str) -> list[tuple[str, str]]:
    with rt.factory() as s:
        return [(str(p.id), p.name) for p in repo.people(board, session=s)]


@pytest.mark.parametrize("board", BOARDS)
def test_every_seed_boards_forms_are_valid_cards(sqlite_runtime, clock, board: str) -> None:
    rt = sqlite_runtime
    chat = Chat(rt, clock, board=board, platform="teams")
    forms = Forms(rt.factory, clock, "teams")
    pid = chat.pid("alice")
    people = _people(rt, board)

    risk = forms.risk(pid)
    card = form_card(risk)
    check_form_card(risk, card, None)
    assert inputs(card)[0]["style"] == "expanded" and card["actions"][0]["verb"] == RISK_FORM

    intake = forms.intake(pid)
    for who in (people, None):
        card = form_card(intake, people=who)
        check_form_card(intake, card, who)
        assert card["actions"][0]["verb"] == INTAKE_FORM
        assert any("Board:" in b.get("text", "") for b in card["body"])

    # after "yes" to immediate risk the route comes first, in an attention container with 🚨
    res = forms.submit_risk(pid, {"risk": "yes"})
    assert res.next_form is not None
    urgent = form_card(res.next_form, people=people)
    check_form_card(res.next_form, urgent, people)
    box = next(b for b in urgent["body"] if b["type"] == "Container")
    assert box["style"] == "attention" and box["items"][0]["text"].startswith("\U0001f6a8 ")
    assert urgent["actions"][0]["data"]["context"].startswith("risk=yes")

    cid = open_case(rt, board, dt.datetime(2026, 4, 2, 10, tzinfo=LONDON))
    with rt.factory() as s:
        ref = s.get(Case, cid).ref
    outcome = forms.outcome(pid, ref)
    card = form_card(outcome)
    check_form_card(outcome, card, None)
    assert card["actions"][0]["verb"] == OUTCOME_FORM and context_of(card["actions"][0]["data"]) == ref


def test_form_errors_show_under_their_fields_and_typed_values_stay(sqlite_runtime, clock) -> None:
    rt = sqlite_runtime
    chat = Chat(rt, clock, platform="teams")
    forms = Forms(rt.factory, clock, "teams")
    pid = chat.pid("alice")
    form = forms.intake(pid)
    typed = {"pre0": "no", "category": "thresholds", "agency": "999999", "person_name": f"Duty SW {HOSTILE}",
             "what": f"Closed after one visit.\n{HOSTILE}\n{RLO}", "done": "", "sought": "Re-open.",
             "arose": "2026-04-02", "subject_name": "Jamie Doe"}
    res = forms.submit(pid, INTAKE_FORM, typed, "risk=no")
    typed["subject_name"] = "x" * 10_000  # longer than the field allows: shown cut to its maxLength
    assert res.errors and "agency" in res.errors and "done" in res.errors, res.errors
    errors = {**res.errors, "": f"Something went wrong {HOSTILE}"}
    card = form_card(form, errors=errors, values=typed, people=_people(rt, "swindon"))
    check_form_card(form, card, _people(rt, "swindon"))
    body = card["body"]
    # a problem that belongs to no field is shown at the top, after the title
    assert body[1]["color"] == "attention" and body[1]["text"].startswith("\u2716\ufe0f Something went wrong Everyone")
    for key, message in res.errors.items():
        i = next(i for i, e in enumerate(body) if e.get("id") == key)
        after = body[i + 1] if not body[i + 1].get("isSubtle") else body[i + 2]  # the hint comes first
        assert after["type"] == "TextBlock" and after["color"] == "attention", key
        assert after["text"] == "\u2716\ufe0f " + md_escape(message), key
    by_id = {e["id"]: e for e in inputs(card)}
    # nothing typed is lost: text comes back as typed (controls removed; plain text, so nothing escaped)
    assert by_id["what"]["value"] == f"Closed after one visit.\n{HOSTILE}\nSWN-2026-0001 isolate embed"
    assert by_id["person_name"]["value"] == f"Duty SW {HOSTILE}"[:200]  # its maxLength
    assert by_id["sought"]["value"] == "Re-open." and by_id["arose"]["value"] == "2026-04-02"
    assert by_id["pre0"]["value"] == "no" and by_id["category"]["value"] == "thresholds"
    assert by_id["subject_name"]["value"] == "x" * 200  # cut to the field's maxLength
    assert "value" not in by_id["agency"]  # not one of the choices offered
    assert "value" not in by_id["done"]


def test_hostile_form_is_valid_and_neutralised() -> None:
    form = Form("form.x", f"Title {HOSTILE} {RLO}" * 20, f"Send {HOSTILE}", (
        FormField("c", f"Choice {HOSTILE}", FieldKind.CHOICE,
                  tuple(Choice(f"v{i}", f"Option {i} {HOSTILE}") for i in range(30)), hint=HOSTILE),
        FormField("t", f"Text {RLO}", FieldKind.TEXT, optional=True, initial=HOSTILE, max_length=100),
        FormField("l", "Long", FieldKind.LONG_TEXT, initial="y" * 10_000),
        FormField("d", "Date", FieldKind.DATE, initial="not a date"),
        FormField("p", "Person", FieldKind.PERSON, optional=True),
    ), context=f"ctx {RLO}", intro=f"{HOSTILE}\n" * 50, intro_severity=Severity.WARNING)
    card = assert_card(form_card(form, people=[("1", f"Bob <at>Evans</at> {RLO}")]))
    by_id = {e["id"]: e for e in inputs(card)}
    assert by_id["t"]["value"] == HOSTILE[:100] and by_id["l"]["value"] == "y" * 5_000
    assert "value" not in by_id["d"]
    assert by_id["p"]["choices"] == [{"title": "Bob Evans SWN-2026-0001 isolate embed", "value": "1"}]
    assert card["actions"][0]["data"]["context"] == "ctx SWN-2026-0001 isolate embed"
    assert card["body"][1]["text"].startswith("\u26a0\ufe0f Everyone Bob")  # the intro, with its severity


def test_reserved_or_duplicate_field_ids_are_refused() -> None:
    for fid in ("verb", "value", "context", "msteams"):
        with pytest.raises(ValueError, match="reserved"):
            form_card(Form("f", "t", "s", (FormField(fid, "x", FieldKind.TEXT),)))
    with pytest.raises(ValueError, match="duplicate"):
        form_card(Form("f", "t", "s", (FormField("a", "x", FieldKind.TEXT), FormField("a", "y", FieldKind.TEXT))))


# -- submissions ------------------------------------------------------------------------------------------
def test_form_values_reads_teams_data() -> None:
    data = {"verb": "form.intake", "context": "risk=no", "value": "x", "msteams": {"type": "messageBack"},
            "a": "typed", "b": "", "c": None, "d": True, "e": 3, "f": ["x", "y"], "g": {"nested": 1}}
    assert form_values(data) == {"a": "typed", "b": "", "c": "", "d": "true", "e": "3", "f": "x,y", "g": ""}
    form = Form("f", "t", "s", (FormField("a", "a", FieldKind.TEXT), FormField("missing", "m", FieldKind.TEXT)))
    assert form_values(data, form) == {"a": "typed", "missing": ""}
    assert context_of(data) == "risk=no" and verb_of(data) == "form.intake"
    for junk in (None, "a string", ["list"], {"context": 5, "verb": None}):
        assert form_values(junk) == {} and context_of(junk) == "" and verb_of(junk) == ""


def teams_submit(card: dict, overrides: dict[str, str], *, fallback: bool = False) -> dict:
    """What Teams sends when the submit button is pressed: the action's data with every input's value merged
    in (an invoke's value.action.data, or with the fallback a message's value)."""
    action = card["actions"][0]
    data = dict(action["fallback"]["data"] if fallback else action["data"])
    for e in inputs(card):
        data[e["id"]] = overrides.get(e["id"], e.get("value", ""))
    return data


@pytest.mark.parametrize("fallback", [False, True])
def test_a_submitted_intake_card_opens_a_real_case(sqlite_runtime, clock, fallback: bool) -> None:
    rt = sqlite_runtime
    chat = Chat(rt, clock, platform="teams")
    forms = Forms(rt.factory, clock, "teams")
    pid = chat.pid("alice")
    with rt.factory() as s:
        csc = repo.agency_by_key("swindon", "social-care", session=s)
        bob = repo.person_by_key("swindon", "bob", session=s)
        csc_id, bob_id = str(csc.id), str(bob.id)
    # the risk card first; "no" gives the intake card with its context
    risk_card = form_card(forms.risk(pid))
    data = teams_submit(risk_card, {"risk": "no"}, fallback=fallback)
    verb = verb_of(data) if fallback else risk_card["actions"][0]["verb"]
    assert verb == RISK_FORM
    res = forms.submit_risk(pid, form_values(data))
    assert res.next_form is not None and not res.errors
    people = _people(rt, "swindon")
    card = form_card(res.next_form, people=people)
    agency = next(e for e in inputs(card) if e["id"] == "agency")
    assert csc_id in [c["value"] for c in agency["choices"]]  # what Teams sends back is a value we offered
    data = teams_submit(card, {"pre0": "no", "category": "thresholds", "agency": csc_id, "person": bob_id,
                               "what": "Closed after one visit.\nSchool sees neglect.", "done": "Phoned the duty team.",
                               "sought": "Re-open and assess.", "arose": "2026-04-02"}, fallback=fallback)
    verb = verb_of(data) if fallback else card["actions"][0]["verb"]
    values = form_values(data)
    assert verb == INTAKE_FORM and context_of(data) == "risk=no"
    assert set(values) == {f.id for f in res.next_form.fields}
    assert values["what"] == "Closed after one visit.\nSchool sees neglect." and values["pre1"] == ""
    done = forms.submit(pid, verb, values, context_of(data))
    assert not done.errors, done.errors
    assert done.reply is not None and done.reply.to_speaker[0].case_ref == "SWN-2026-0001"
    for m in done.reply.to_speaker + [ob.message for ob in done.reply.queued]:
        render(m)
    # the outcome card for that case carries the reference as its context
    outcome = form_card(forms.outcome(pid, "SWN-2026-0001"))
    data = teams_submit(outcome, {"resolved": "unresolved", "text": "Still disagree."}, fallback=fallback)
    assert context_of(data) == "SWN-2026-0001"
    res = forms.submit(pid, OUTCOME_FORM, form_values(data), context_of(data))
    assert not res.errors, res.errors


def test_initial_values_come_back_unchanged() -> None:
    """What a card pre-fills is what form_values reads back when the person submits without changes."""
    form = Form("f", "Form", "Send", (
        FormField("c", "Choice", FieldKind.CHOICE, tuple(Choice(f"v{i}", f"V {i}") for i in range(5)), initial="v3"),
        FormField("r", "Radio", FieldKind.CHOICE, (Choice("yes", "Yes"), Choice("no", "No")), initial="yes"),
        FormField("t", "Text", FieldKind.TEXT, initial="hello <at>x</at> [a](b)"),
        FormField("l", "Long", FieldKind.LONG_TEXT, initial="line 1\nline 2", max_length=3000),
        FormField("d", "Date", FieldKind.DATE, initial="2026-04-02"),
        FormField("p", "Person", FieldKind.PERSON, initial="7"),
    ), context="SWN-2026-0001")
    for people in ([("7", "Bob"), ("8", "Sam")], None):
        card = assert_card(form_card(form, people=people))
        data = teams_submit(card, {})
        assert form_values(data, form) == {f.id: f.initial for f in form.fields}
        assert context_of(data) == "SWN-2026-0001"
