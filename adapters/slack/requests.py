"""What a Slack request is, as Parley reads it: whether its shape is one Slack sends, whose workspace it is from,
what identifies it (to take a delivery once), and a Slack API failure in words that never echo a body."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from adapters.slack.block_text import action_of
from bot.core.routes import Route

CLICK_WINDOW_SECONDS = 10  # two clicks of the same button by the same person within this are one click


def payload_problem(body: dict) -> str | None:
    """What is wrong with a payload's shape (None when it is the shape Slack sends for its type)."""
    if not isinstance(body, dict):
        return "not an object"
    kind = body.get("type")
    if body.get("command") is not None:
        return None if isinstance(body.get("user_id"), str) else "a command without its user"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "no user"
        if kind == "block_actions":
            acts = body.get("actions")
            if not isinstance(acts, list) or not acts or not all(isinstance(a, dict) for a in acts):
                return "no actions"
            if not all(isinstance(a.get("action_id", ""), str) and isinstance(a.get("value", ""), str)
                       for a in acts):
                return "an action of the wrong type"
        if kind in ("view_submission", "view_closed"):
            view = body.get("view")
            if not isinstance(view, dict) or not isinstance((view.get("state") or {}).get("values", {}), dict):
                return "no view"
        return None
    if kind == "event_callback":
        return None if isinstance(body.get("event"), dict) else "an event without its event"
    if kind in ("url_verification", "app_rate_limited"):
        return None
    if body.get("ssl_check"):
        return None
    return f"unknown type {str(kind)[:40]!r}"


def team_of(body: dict) -> str | None:
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    for key in ("team_id", "user_team"):
        if isinstance(body.get(key), str):
            return body[key]
    user = body.get("user")
    if isinstance(user, dict) and isinstance(user.get("team_id"), str):
        return user["team_id"]
    return None


def delivery_keys(body: dict) -> list[tuple[str, float | None]]:
    """What identifies a delivery, with how long it is remembered (None: for good): the event id for events (Slack
    re-sends it on retry), the view id and hash for a modal submission, the trigger for a slash command or a
    shortcut; for a click, the click itself (its action_ts: a signed click replayed within Slack's five-minute
    signature window is one click) and the person + button + message (a double click within a few seconds)."""
    if body.get("event_id"):
        return [(f"event:{body['event_id']}", None)]
    kind = body.get("type")
    if kind == "view_submission":
        view = body.get("view") or {}
        return [(f"view:{view.get('id')}:{view.get('hash')}", None)]
    if kind == "block_actions":
        act = (body.get("actions") or [{}])[0]
        user = (body.get("user") or {}).get("id")
        msg_ts = (body.get("container") or {}).get("message_ts") or (body.get("view") or {}).get("id", "")
        keys: list[tuple[str, float | None]] = []
        if act.get("action_ts"):
            keys.append((f"click-ts:{user}:{act.get('action_id')}:{act['action_ts']}", None))
        keys.append((f"click:{user}:{act.get('action_id')}:{act.get('value')}:{msg_ts}", CLICK_WINDOW_SECONDS))
        return keys
    if body.get("trigger_id"):  # a slash command, a shortcut: Slack gives each invocation its own trigger
        return [(f"trigger:{body['trigger_id']}", None)]
    return []


def slack_error(exc: Exception) -> str:
    """A Slack API failure as its error code or HTTP status only (never a message body: it may echo input)."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        code = resp.get("error", "") if hasattr(resp, "get") else ""
        return str(code or getattr(resp, "status_code", "?"))
    return type(exc).__name__


def opens_modal(body: dict) -> bool:
    """A request answered by opening a modal: '/parley' or '/parley new', the message shortcut, and a case's
    "Record the outcome" button. Its trigger_id lasts 3 seconds, so the modal is opened in the ack itself, on the
    request's own thread, with a fixed view (nothing read but the person's language); the work after the ack fills
    it in (adapters/slack/app.py ``_fill``)."""
    if body.get("command"):
        words = (body.get("text") or "").split()
        return not words or words[0] == "new"
    if body.get("type") == "shortcut" or body.get("type") == "message_action":
        return True
    act = (body.get("actions") or [{}])[0]
    return body.get("type") == "block_actions" and action_of(act.get("action_id", "")) == Route.RECORD_OUTCOME \
        and bool(body.get("trigger_id"))
