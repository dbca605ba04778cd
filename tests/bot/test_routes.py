"""Routing keys are one enum (bot/core/routes.py): every button is built from it, and every route the buttons can
carry is one the conversation's router takes back."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.conversation.registry import FLOWS
from bot.conversation.router import RECORD_ACTIONS
from bot.core.routes import CASE, Route, for_action
from protocol.state import Action

ROOT = Path(__file__).resolve().parents[2]


def test_every_case_route_is_taken_by_the_router() -> None:
    for route in Route:
        if not route.startswith(CASE):
            continue
        verb = route.removeprefix(CASE)
        assert verb in {"view", "form"} | RECORD_ACTIONS or (verb in FLOWS and verb != "intake"), route


def test_every_protocol_action_has_a_flow_behind_its_button() -> None:
    for action in Action:
        assert for_action(action.value).removeprefix(CASE) in FLOWS, action


def test_no_button_is_built_from_a_string_literal() -> None:
    literal = []
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Button" and node.args \
                    and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                literal.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert literal == []
