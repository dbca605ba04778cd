"""Block Kit rendering for Slack: hostile input stays within Slack's limits and never pings anyone; real case
views, escalation prompts and every seed board's forms render within limits; modal submissions round-trip."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from adapters.slack.block_checks import check_limits
from adapters.slack.block_text import ELLIPSIS, action_of, escape
from adapters.slack.blocks import fallback_text, home_view, message_blocks
from adapters.slack.modals import errors_response, form_values, modal_view
from bot.core.clock import FixedClock
from bot.forms.forms import INTAKE_FORM, Forms
from bot.core.messages import Button, Choice, Field, FieldKind, Form, FormField, Message, Prompt, PromptKind, Severity, message_from_data
from bot.escalation.scheduler import Sweeper
from storage import repo
from storage.models import OutboxMessage
from tests.bot.test_conversation import INTAKE_SWINDON
from tests.conftest import LONDON, Chat, texts

BOARDS = ["swindon", "wolverhampton", "cardiff-and-vale", "mid-and-west-wales"]
MENTIONS = "<!channel> <!here> <!everyone> <@U123|x> <#C1|general> <!subteam^S1> <https://evil.example|click> & <>"
RLO = "\u202eSWN-2026-0001\u202c \u2066isolate\u2069 \u202aembed\u202c"
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
ENTITY_OK = re.compile(r"&(?!amp;|lt;|gt;)")


# -- helpers ------------------------------------------------------------------------------------------------
def _text_objects(node: Any, path: str = "") -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            out.append((path, node))
        for k, v in node.items():
            out += _text_objects(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _text_objects(v, f"{path}[{i}]")
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def assert_safe(payload: dict | list, fallback: str | None = None) -> None:
    """Within Slack's limits; every mrkdwn text escaped (no raw < or >, every & an entity) and verbatim;
    no bidi override or isolate control anywhere."""
    assert check_limits(payload) == []
    for path, obj in _text_objects(payload):
        if obj["type"] == "mrkdwn":
            assert "<" not in obj["text"] and ">" not in obj["text"], (path, obj["text"][:200])
            assert not ENTITY_OK.search(obj["text"]), (path, obj["text"][:200])
            assert obj.get("verbatim") is True, path
    for s in _strings(payload):
        assert not BIDI.search(s), s[:80]
    if fallback is not None:
        assert check_limits({"blocks": payload, "text": fallback} if isinstance(payload, list) else payload) == []
        assert "<" not in fallback and ">" not in fallback and not ENTITY_OK.search(fallback)
        assert not BIDI.search(fallback)


def render(m: Message) -> list[dict]:
    blocks = message_blocks(m)
    text = fallback_text(m)
    assert_safe({"blocks": blocks, "text": text}, text)
    return blocks


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def buttons_of(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def hostile_message(**over: Any) -> Message:
    base: dict[str, Any] = dict(
        title=f"{MENTIONS} {RLO} " * 5,
        text=(f"{MENTIONS}\n{RLO}\n" + "Long & <winding> text. " * 500)[:10_000],
        fields=tuple(Field(f"Label {i} <@U{i}> &", f"{MENTIONS} " * 40) for i in range(20)),
        buttons=tuple(Button(f"case.act{i % 7}", f"Button {i} {MENTIONS}", f"SWN-2026-{i:04d}",
                             "primary" if i == 0 else ("danger" if i == 1 else ("bogus" if i == 2 else None)))
                      for i in range(30)),
        prompt=Prompt("category", PromptKind.CHOICE,
                      tuple(Choice(f"c{i}", f"Choice {i} {MENTIONS}") for i in range(150)), hint=MENTIONS),
        severity=Severity.URGENT,
        case_ref="SWN-2026-0001",
    )
    base.update(over)
    return Message(**base)


# -- escaping ---------------------------------------------------------------------------------------------
def test_escape_neutralises_mentions_links_and_bidi_controls() -> None:
    assert escape("<!channel> & <@U123|x>") == "&lt;!channel&gt; &amp; &lt;@U123|x&gt;"
    assert escape("<#C1> <https://evil.example|click>") == "&lt;#C1&gt; &lt;https://evil.example|click&gt;"
    assert escape("a &amp; b") == "a &amp;amp; b"  # shown exactly as typed
    assert escape(RLO) == "SWN-2026-0001 isolate embed"
    assert escape("line\r\nnext\x00") == "line\nnext"
    assert escape(None) == ""


def test_action_of_strips_the_uniqueness_suffix() -> None:
    assert action_of("case.view~2") == "case.view"
    assert action_of("answer~13") == "answer"
    assert action_of("esc.ack") == "esc.ack"
    assert action_of("case.x~y") == "case.x~y"


# -- messages ---------------------------------------------------------------------------------------------
def test_hostile_message_stays_within_limits_and_is_escaped() -> None:
    m = hostile_message()
    blocks = render(m)
    assert len(blocks) <= 50
    header = blocks[0]
    assert header["type"] == "header" and header["text"]["text"].startswith("\U0001f6a8 ")
    assert len(header["text"]["text"]) <= 150 and header["text"]["text"].endswith(ELLIPSIS)
    sections = [b for b in blocks if b["type"] == "section" and "text" in b]
    assert sections[0]["text"]["text"].startswith("&lt;!channel&gt; &lt;!here&gt;")
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    # every field kept, ten to a section
    field_sections = [b for b in blocks if b["type"] == "section" and "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10]
    assert field_sections[0]["fields"][0]["text"].startswith("*Label 0 &lt;@U0&gt; &amp;*\n&lt;!channel&gt;")
    # 150 choices as buttons answer~1..150 (25 to an actions block), value = the choice value
    answers = [e for e in buttons_of(blocks) if action_of(e["action_id"]) == "answer"]
    assert [e["action_id"] for e in answers] == [f"answer~{i}" for i in range(1, 151)]
    assert [e["value"] for e in answers] == [f"c{i}" for i in range(150)]
    # 30 buttons; the same action twice gets ~2, ~3; only primary/danger styles pass through
    case_buttons = [e for e in buttons_of(blocks) if not e["action_id"].startswith("answer")]
    assert len(case_buttons) == 31  # the 30, then "View full record" as the text was cut
    assert (case_buttons[-1]["action_id"], case_buttons[-1]["value"]) == ("case.view", "SWN-2026-0001")
    case_buttons = case_buttons[:30]
    ids = [e["action_id"] for e in case_buttons]
    assert len(set(action_ids(blocks))) == len(action_ids(blocks))
    assert ids[:8] == ["case.act0", "case.act1", "case.act2", "case.act3", "case.act4", "case.act5", "case.act6",
                       "case.act0~2"]
    assert [action_of(i) for i in ids] == [f"case.act{i % 7}" for i in range(30)]
    assert [e.get("style") for e in case_buttons[:4]] == ["primary", "danger", None, None]
    assert all(len(e["text"]["text"]) <= 75 for e in buttons_of(blocks))
    # the prompt's hint is escaped into a context block
    context = next(b for b in blocks if b["type"] == "context")
    assert context["elements"][0]["text"].startswith("&lt;!channel&gt;")


def test_long_text_is_cut_with_an_ellipsis_and_a_view_full_record_button() -> None:
    m = Message(text="Paragraph of text & more.\n" * 800, title="SWN-2026-0001", case_ref="SWN-2026-0001")
    blocks = render(m)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 3 and sections[-1].endswith(ELLIPSIS)
    assert all(len(s) <= 3000 for s in sections)
    assert "&amp;" in sections[0] and not any(s.endswith(("&", "&am")) for s in sections)
    view = buttons_of(blocks)[-1]
    assert (view["action_id"], view["value"], view["text"]["text"]) == ("case.view", "SWN-2026-0001",
                                                                       "View full record")
    # without a case there is nothing to link to; a short text is never cut
    assert not buttons_of(render(Message(text="x " * 10_000)))
    assert not buttons_of(render(Message(text="short", case_ref="SWN-2026-0001")))


def test_view_full_record_reuses_the_suffix_when_the_message_already_has_case_view() -> None:
    m = Message(text="y" * 10_000, case_ref="SWN-2026-0001",
                buttons=(Button("case.view", "View SWN-2026-0002", "SWN-2026-0002"),))
    ids = action_ids(render(m))
    assert ids == ["case.view", "case.view~2"]


def test_severity_emoji_prefix_on_the_header_or_first_section() -> None:
    expected = {Severity.URGENT: "\U0001f6a8 ", Severity.WARNING: "\u26a0\ufe0f ", Severity.SUCCESS: "\u2705 ",
                Severity.ERROR: "\u2716\ufe0f "}
    for severity, emoji in expected.items():
        assert render(Message("body", title="Title", severity=severity))[0]["text"]["text"] == emoji + "Title"
        assert render(Message("body", severity=severity))[0]["text"]["text"] == emoji + "body"
        assert fallback_text(Message("body", title="T", severity=severity)).startswith(emoji.strip())
    assert render(Message("body", title="Title"))[0]["text"]["text"] == "Title"


def test_fallback_text_is_escaped_and_short() -> None:
    text = fallback_text(hostile_message())
    assert text.startswith("\U0001f6a8 &lt;!channel&gt;")
    assert len(text) <= 3000 and text.endswith(ELLIPSIS)


def test_many_fields_and_buttons_never_exceed_fifty_blocks() -> None:
    m = Message(text="t" * 10_000, fields=tuple(Field(f"f{i}", "v") for i in range(1000)),
                buttons=tuple(Button("case.view", str(i), str(i)) for i in range(400)), case_ref="R")
    blocks = render(m)
    assert len(blocks) == 50
    assert len(set(action_ids(blocks))) == len(action_ids(blocks))


# -- modals -----------------------------------------------------------------------------------------------
def hostile_form() -> Form:
    return Form("form.intake", f"Raise a concern {MENTIONS}", "Submit the whole form now", (
        FormField("big", f"Which? {MENTIONS}", FieldKind.CHOICE,
                  tuple(Choice(f"v{i}", f"Choice {i} {MENTIONS}") for i in range(150)), initial="v120"),
        FormField("mid", "Category", FieldKind.CHOICE, tuple(Choice(f"m{i}", f"M {i}") for i in range(7))),
        FormField("yn", "Yes or no?", FieldKind.CHOICE, (Choice("yes", "Yes"), Choice("no", "No")), initial="no"),
        FormField("label", "L" * 2500 + RLO, FieldKind.TEXT, optional=True, hint="H" * 2500, max_length=200,
                  initial="x" * 300),
        FormField("what", "What happened?", FieldKind.LONG_TEXT, max_length=5000, initial=MENTIONS),
        FormField("arose", "When?", FieldKind.DATE, initial="2026-04-02"),
        FormField("bad_date", "When else?", FieldKind.DATE, optional=True, initial="next Tuesday"),
        FormField("person", "Who?", FieldKind.PERSON, optional=True),
    ), context="risk=no", intro=f"Call 999 now. {MENTIONS} {RLO}\n" * 300, intro_severity=Severity.URGENT)


def test_hostile_modal_stays_within_limits() -> None:
    form = hostile_form()
    view = modal_view(form)
    assert_safe(view)
    assert view["type"] == "modal" and view["callback_id"] == "form.intake"
    assert view["private_metadata"] == "risk=no"
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    assert view["close"]["text"] == "Cancel"
    intro = [b for b in view["blocks"] if b["type"] == "section"]
    assert intro[0]["text"]["text"].startswith("\U0001f6a8 Call 999 now. &lt;!channel&gt;")
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [f.id for f in form.fields]
    assert view["blocks"].index(inputs["big"]) > view["blocks"].index(intro[-1])  # intro first
    assert all(b["element"]["action_id"] == "value" for b in inputs.values())
    big = inputs["big"]["element"]
    assert big["type"] == "static_select" and "options" not in big
    assert [len(g["options"]) for g in big["option_groups"]] == [100, 50]
    assert big["initial_option"]["value"] == "v120"
    assert inputs["mid"]["element"]["type"] == "static_select" and len(inputs["mid"]["element"]["options"]) == 7
    assert inputs["yn"]["element"]["type"] == "radio_buttons"
    assert inputs["yn"]["element"]["initial_option"]["value"] == "no"
    label = inputs["label"]
    assert len(label["label"]["text"]) <= 2000 and len(label["hint"]["text"]) <= 2000
    assert label["optional"] is True and "optional" not in inputs["what"]
    assert label["element"]["type"] == "plain_text_input" and label["element"]["initial_value"] == "x" * 200
    what = inputs["what"]["element"]
    assert what["multiline"] is True and what["max_length"] == 3000 and what["initial_value"] == MENTIONS
    assert inputs["arose"]["element"] == {"type": "datepicker", "action_id": "value", "initial_date": "2026-04-02"}
    assert "initial_date" not in inputs["bad_date"]["element"]
    assert inputs["person"]["element"]["type"] == "users_select"


def test_modal_arguments_and_errors() -> None:
    form = hostile_form()
    view = modal_view(form, callback_id="other", private_metadata="prefill=x", close_label="Close",
                      errors={"": "Something <!here> went wrong", "what": "Please fill this in."})
    assert_safe(view)
    assert (view["callback_id"], view["private_metadata"], view["close"]["text"]) == ("other", "prefill=x", "Close")
    first = view["blocks"][0]["text"]["text"]
    assert first == "\u2716\ufe0f Something &lt;!here&gt; went wrong"
    i = next(n for n, b in enumerate(view["blocks"]) if b.get("block_id") == "what")
    assert view["blocks"][i + 1]["elements"][0]["text"] == "\u2716\ufe0f Please fill this in."
    assert errors_response(form, {"what": "Please fill this in."}) == {
        "response_action": "errors", "errors": {"what": "Please fill this in."}}
    update = errors_response(form, {"": "unknown form"})
    assert update["response_action"] == "update" and check_limits(update["view"]) == []
    with pytest.raises(ValueError):
        modal_view(form, private_metadata="x" * 3001)
    with pytest.raises(ValueError):
        modal_view(Form("f", "t", "s", (FormField("c", "c", FieldKind.CHOICE, (Choice("v" * 151, "x"),)),)))


# -- App Home ---------------------------------------------------------------------------------------------
def test_home_view_summarises_what_does_not_fit() -> None:
    cards = [hostile_message(title=f"Case {i}", buttons=(), prompt=None, fields=()) for i in range(40)]
    view = home_view("Your cases <!channel>", cards)
    assert_safe(view)
    assert view["type"] == "home" and "submit" not in view and "title" not in view
    assert len(view["blocks"]) <= 100
    assert view["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Your cases <!channel>",
                                                            "emoji": True}}
    shown = sum(1 for b in view["blocks"] if b["type"] == "header") - 1
    assert 0 < shown < 40
    assert view["blocks"][-1]["type"] == "context"
    assert view["blocks"][-1]["elements"][0]["text"] == f"{40 - shown} more cases: use /parley list"


def test_home_view_with_a_few_cases_has_dividers_and_no_summary() -> None:
    cards = [Message(f"Next: step {i}", title=f"SWN-2026-000{i}", buttons=(Button("case.view", "View case",
                                                                                   f"SWN-2026-000{i}"),))
             for i in range(3)]
    view = home_view("Your cases", cards)
    assert_safe(view)
    assert [b["type"] for b in view["blocks"]] == ["header"] + ["header", "section", "actions", "divider"] * 2 + [
        "header", "section", "actions"]
    assert check_limits(home_view("Your cases", [])) == []


def test_home_view_fills_exactly_one_hundred_blocks_and_counts_what_is_left() -> None:
    small = Message("Next: a step", title="SWN-2026-0001", buttons=(Button("case.view", "View case", "R"),))
    assert len(message_blocks(small)) == 3  # so header + 3 + 24 x (divider + 3) = 100
    full = home_view("Your cases", [small] * 25)
    assert_safe(full)
    assert len(full["blocks"]) == 100 and full["blocks"][-1]["type"] == "actions"
    big = Message("x", title="Big", fields=(Field("a", "b"),), buttons=(Button("case.view", "View", "R"),))
    one_left = home_view("Your cases", [small] * 24 + [big])
    assert_safe(one_left)
    assert one_left["blocks"][-1]["elements"][0]["text"] == "1 more case: use /parley list"
    two_left = home_view("Your cases", [small] * 26)
    assert_safe(two_left)
    assert two_left["blocks"][-1]["elements"][0]["text"] == "2 more cases: use /parley list"


# -- check_limits itself --------------------------------------------------------------------------------------
def _button(text: str = "ok", action_id: str = "a", value: str = "v") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize("payload,fragment", [
    ({"blocks": [_section("x")] * 51}, "block count is 51 (max 50)"),
    ({"type": "home", "blocks": [_section("x")] * 101}, "block count is 101 (max 100)"),
    ({"blocks": [_section("x" * 3001)]}, "text length is 3,001 (max 3,000)"),
    ({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]}, "(max 150)"),
    ({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}, "must be plain_text"),
    ({"blocks": [{"type": "actions", "elements": [_button("b" * 76)]}]}, "(max 75)"),
    ({"blocks": [{"type": "actions", "elements": [_button(value="v" * 2001)]}]}, "value: length is 2,001"),
    ({"blocks": [{"type": "actions", "elements": [_button(action_id="a" * 256)]}]}, "action_id: length is 256"),
    ({"blocks": [{"type": "actions", "elements": [_button(), _button()]}]}, "'a' is used twice in the block"),
    ({"blocks": [{"type": "actions", "elements": [_button(action_id=str(i)) for i in range(26)]}]},
     "count is 26 (max 25)"),
    ({"blocks": [{**_section("x"), "block_id": "b" * 256}]}, "block_id: length is 256"),
    ({"blocks": [{**_section("x"), "block_id": "b"}, {**_section("y"), "block_id": "b"}]}, "'b' is used twice"),
    ({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]}, "count is 11 (max 10)"),
    ({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}]}, "(max 2,000)"),
    ({"blocks": [_section("")]}, "text is empty"),
    ({"blocks": [{"type": "section"}]}, "needs text or fields"),
    ({"blocks": [{"type": "actions", "elements": [{**_button(), "style": "green"}]}]}, "not primary or danger"),
    ({"text": "t" * 4001}, "text: length is 4,001"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": [_section("x")]}, "(max 24)"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "submit": {"type": "plain_text", "text": "s" * 25},
      "blocks": [_section("x")]}, "submit: text length is 25"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "close": {"type": "plain_text", "text": "c" * 25},
      "blocks": [_section("x")]}, "close: text length is 25"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [
        {"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": {
            "type": "plain_text_input", "action_id": "value"}}]}, "needs a submit button"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "submit": {"type": "plain_text", "text": "s"},
      "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "l" * 2001}, "element": {
          "type": "plain_text_input", "action_id": "value"}}]}, "label: text length is 2,001"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "submit": {"type": "plain_text", "text": "s"},
      "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": {
          "type": "static_select", "action_id": "value", "options": [
              {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)]}}]},
     "options: count is 101 (max 100)"),
    ({"blocks": [{"type": "actions", "elements": [{"type": "static_select", "action_id": "s", "options": [
        {"text": {"type": "plain_text", "text": "o" * 76}, "value": "v" * 151}]}]}]}, "(max 150)"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "submit": {"type": "plain_text", "text": "s"},
      "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "l"}, "element": {
          "type": "radio_buttons", "action_id": "value", "options": [
              {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(11)]}}]},
     "count is 11 (max 10)"),
    ({"type": "home", "blocks": [_section("x")], "submit": {"type": "plain_text", "text": "s"}}, "no submit or close"),
    ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [_section("x")],
      "private_metadata": "m" * 3001}, "private_metadata: length is 3,001"),
])
def test_check_limits_reports_each_breach(payload: dict, fragment: str) -> None:
    problems = check_limits(payload)
    assert any(fragment in p for p in problems), problems


def test_check_limits_counts_astral_emoji_as_two() -> None:
    def header(text: str) -> dict:
        return {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": text}}]}

    assert check_limits(header("\U0001f6a8" * 75)) == []
    assert check_limits(header("\U0001f6a8" * 76))


# -- real views through the services --------------------------------------------------------------------------
HOSTILE_WHAT = f"CSC closed the referral {MENTIONS} {RLO}"


def test_real_conversation_case_view_list_and_dm_render_within_limits(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, platform="slack")
    rendered: list[list[dict]] = []

    def show(reply) -> None:
        for m in reply.to_speaker + [ob.message for ob in reply.queued]:
            rendered.append(render(m))

    show(chat.say("alice", "new"))
    answers = list(INTAKE_SWINDON)
    answers[3] = HOSTILE_WHAT
    for a in answers:
        show(chat.say("alice", a))
    done = chat.say("alice", "submit")
    show(done)
    ref = done.to_speaker[0].case_ref
    assert ref, texts(done)
    view = chat.say("alice", f"case {ref}")
    show(view)
    case_blocks = render(view.to_speaker[0])
    assert case_blocks[0]["type"] == "header" and ref in case_blocks[0]["text"]["text"]
    assert "case.record_outcome" in action_ids(case_blocks)
    assert any("fields" in b for b in case_blocks)
    show(chat.say("alice", "list"))
    show(chat.say("alice", f"case {ref} timeline"))
    show(chat.say("bob", "list"))
    # the prompt buttons of every question route as answer~N with the choice value
    first = chat.say("alice", "new").to_speaker[0]
    blocks = render(first)
    assert [(e["action_id"], e["value"]) for e in buttons_of(blocks)] == [("answer~1", "yes"), ("answer~2", "no")]
    chat.say("alice", "cancel")
    # the hostile description is shown back (the summary before submitting), escaped and without bidi controls
    mrkdwn = [o["text"] for blocks in rendered for _, o in _text_objects(blocks) if o["type"] == "mrkdwn"]
    assert any("CSC closed the referral &lt;!channel&gt; &lt;!here&gt;" in t for t in mrkdwn)
    assert any("SWN-2026-0001 isolate embed" in t for t in mrkdwn)
    assert len(rendered) > 10


def test_escalation_prompt_renders_with_its_buttons(sqlite_runtime) -> None:
    rt = sqlite_runtime
    clock = FixedClock(dt.datetime(2026, 4, 2, 10, 0, tzinfo=LONDON))
    chat = Chat(rt, clock, platform="slack")
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
    blocks = render(message_from_data(post.payload))
    assert action_ids(blocks) == ["esc.ack", "case.record_outcome", "case.view"]
    assert buttons_of(blocks)[0]["style"] == "primary"
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].startswith("\u26a0\ufe0f ")


# -- seed boards' forms as modals ----------------------------------------------------------------------------
@pytest.mark.parametrize("board", BOARDS)
def test_every_seed_boards_forms_are_modals_within_limits(sqlite_runtime, clock, board: str) -> None:
    chat = Chat(sqlite_runtime, clock, board=board, platform="slack")
    forms = Forms(sqlite_runtime.factory, clock, "slack")
    pid = chat.pid("alice")
    risk = modal_view(forms.risk(pid))
    assert_safe(risk)
    assert [b["element"]["type"] for b in risk["blocks"]] == ["radio_buttons"]
    form = forms.intake(pid)
    view = modal_view(form)
    assert_safe(view)
    assert view["callback_id"] == INTAKE_FORM
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [f.id for f in form.fields]
    kinds = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert view["blocks"][0]["type"] == "section" and "Board:" in view["blocks"][0]["text"]["text"]
    assert kinds["person"] == "users_select" and kinds["arose"] == "datepicker"
    assert kinds["category"] == "static_select" and kinds["what"] == "plain_text_input"
    # after "yes" to immediate risk the route is shown first, marked urgent
    res = forms.submit_risk(pid, {"risk": "yes"})
    assert res.next_form is not None
    urgent = modal_view(res.next_form)
    assert_safe(urgent)
    assert urgent["blocks"][0]["type"] == "section" and urgent["blocks"][0]["text"]["text"].startswith("\U0001f6a8")
    assert urgent["private_metadata"].startswith("risk=yes")


# -- form_values --------------------------------------------------------------------------------------------
def _option(value: str, text: str) -> dict:
    return {"text": {"type": "plain_text", "text": text, "emoji": True}, "value": value}


def slack_state_for_swindon(agency_id: str) -> dict:
    """view.state.values as Slack sends it in a view_submission for the Swindon intake modal."""
    return {
        "pre0": {"value": {"type": "radio_buttons", "selected_option": _option("no", "No")}},
        "pre1": {"value": {"type": "radio_buttons", "selected_option": None}},
        "pre1_date": {"value": {"type": "datepicker", "selected_date": None}},
        "category": {"value": {"type": "static_select",
                               "selected_option": _option("thresholds", "Thresholds / decision about a referral")}},
        "agency": {"value": {"type": "radio_buttons",
                             "selected_option": _option(agency_id, "Swindon Children's Social Care")}},
        "person": {"value": {"type": "users_select", "selected_user": None}},
        "person_name": {"value": {"type": "plain_text_input", "value": "Duty social worker <@U999>"}},
        "what": {"value": {"type": "plain_text_input", "value": "Closed after one visit.\nSchool sees neglect."}},
        "done": {"value": {"type": "plain_text_input", "value": "Phoned the duty team."}},
        "sought": {"value": {"type": "plain_text_input", "value": "Re-open and assess."}},
        "arose": {"value": {"type": "datepicker", "selected_date": "2026-04-02"}},
        "subject_name": {"value": {"type": "plain_text_input", "value": None}},
        "subject_dob": {"value": {"type": "datepicker", "selected_date": None}},
    }


def test_form_values_reads_each_element_type() -> None:
    values = form_values({
        "a": {"value": {"type": "static_select", "selected_option": _option("x", "X")}},
        "b": {"value": {"type": "radio_buttons", "selected_option": None}},
        "c": {"value": {"type": "plain_text_input", "value": "typed"}},
        "d": {"value": {"type": "datepicker", "selected_date": "2026-04-09"}},
        "e": {"value": {"type": "users_select", "selected_user": "U024BE7LH"}},
        "f": {"value": {"type": "plain_text_input", "value": None}},
        "g": {"other_action": {"type": "plain_text_input", "value": "first action used"}},
        "h": {"value": {"type": "datetimepicker", "selected_date_time": 1775725200}},
        "i": {},
    })
    assert values == {"a": "x", "b": "", "c": "typed", "d": "2026-04-09", "e": "U024BE7LH", "f": "",
                      "g": "first action used", "h": "1775725200"}
    form = Form("f", "t", "s", (FormField("a", "a", FieldKind.TEXT), FormField("missing", "m", FieldKind.TEXT)))
    assert form_values({"a": {"value": {"type": "plain_text_input", "value": "v"}}}, form) == {"a": "v", "missing": ""}


def test_form_values_round_trip_opens_a_real_case(sqlite_runtime, clock) -> None:
    chat = Chat(sqlite_runtime, clock, platform="slack")
    forms = Forms(sqlite_runtime.factory, clock, "slack")
    pid = chat.pid("alice")
    form = forms.intake(pid)
    with sqlite_runtime.factory() as s:
        csc = str(repo.agency_by_key("swindon", "social-care", session=s).id)
    view = modal_view(form)
    agency = next(b for b in view["blocks"] if b.get("block_id") == "agency")["element"]
    assert csc in [o["value"] for o in agency["options"]]  # the value Slack sends back is one we offered
    state = slack_state_for_swindon(csc)
    assert set(state) == {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    values = form_values(state)
    assert values["pre0"] == "no" and values["pre1"] == "" and values["category"] == "thresholds"
    assert values["agency"] == csc and values["person"] == "" and values["arose"] == "2026-04-02"
    assert values["what"] == "Closed after one visit.\nSchool sees neglect." and values["subject_name"] == ""
    res = forms.submit(pid, INTAKE_FORM, values, view.get("private_metadata", "risk=no") or "risk=no")
    assert not res.errors, res.errors
    assert res.reply is not None
    for m in res.reply.to_speaker + [ob.message for ob in res.reply.queued]:
        render(m)
    assert res.reply.to_speaker[0].case_ref == "SWN-2026-0001"


def test_initial_values_come_back_unchanged() -> None:
    """What a modal pre-fills is what form_values reads back when the person submits without changes."""
    form = Form("f", "Form", "Send", (
        FormField("c", "Choice", FieldKind.CHOICE, tuple(Choice(f"v{i}", f"V {i}") for i in range(5)), initial="v3"),
        FormField("r", "Radio", FieldKind.CHOICE, (Choice("yes", "Yes"), Choice("no", "No")), initial="yes"),
        FormField("t", "Text", FieldKind.TEXT, initial="hello <@U1>"),
        FormField("l", "Long", FieldKind.LONG_TEXT, initial="line 1\nline 2", max_length=3000),
        FormField("d", "Date", FieldKind.DATE, initial="2026-04-02"),
        FormField("p", "Person", FieldKind.PERSON, initial="U024BE7LH"),
    ))
    view = modal_view(form)
    assert_safe(view)
    state = {}
    for b in view["blocks"]:
        e = b["element"]
        if e["type"] in ("static_select", "radio_buttons"):
            st = {"selected_option": e.get("initial_option")}
        elif e["type"] == "plain_text_input":
            st = {"value": e.get("initial_value")}
        elif e["type"] == "datepicker":
            st = {"selected_date": e.get("initial_date")}
        else:
            st = {"selected_user": e.get("initial_user")}
        state[b["block_id"]] = {e["action_id"]: {"type": e["type"], **st}}
    assert form_values(state) == {f.id: f.initial for f in form.fields}
