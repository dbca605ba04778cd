"""The Slack app manifest: valid against the newest official manifest schema, the YAML and JSON copies
identical, least-privilege scopes, and every command, shortcut and event one the Slack app handles."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator, validators

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = ROOT / "manifest" / "slack"
SCHEMAS = Path(os.environ.get("PARLEY_SCHEMAS_DIR", ROOT.parent / "shared" / "schemas"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# What the Slack app (adapters/slack/app.py) registers listeners for.
HANDLED_COMMANDS = {"/parley"}
HANDLED_SHORTCUTS = {"raise_from_message"}
HANDLED_EVENTS = {"app_home_opened", "message"}
BOT_SCOPES = {"commands", "chat:write", "im:write", "im:history", "users:read", "users:read.email",
              "channels:history", "groups:history", "files:write"}


def load_yaml() -> dict:
    return yaml.safe_load((MANIFEST_DIR / "manifest.yaml").read_text("utf-8"))


def load_json() -> dict:
    return json.loads((MANIFEST_DIR / "manifest.json").read_text("utf-8"))


def slack_schemas() -> dict[tuple[int, ...], Path]:
    if not SCHEMAS.is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but the reference schemas are missing at {SCHEMAS} (set PARLEY_SCHEMAS_DIR)")
        pytest.skip(f"reference schemas not found at {SCHEMAS} (set PARLEY_SCHEMAS_DIR)")
    found = {}
    for path in SCHEMAS.glob("slack-manifest-*.schema.json"):
        m = re.fullmatch(r"slack-manifest-(\d+)\.(\d+)\.(\d+)\.schema\.json", path.name)
        if m:
            found[tuple(int(g) for g in m.groups())] = path
    assert found, f"no slack-manifest-*.schema.json in {SCHEMAS}"
    return found


def schema_for(manifest: dict) -> Path:
    """The upstream dispatcher's rule (shared/schemas/README.md): _metadata.major_version, absent means 1."""
    major = (manifest.get("_metadata") or {}).get("major_version", 1)
    matches = {v: p for v, p in slack_schemas().items() if v[0] == major}
    assert matches, f"no schema for manifest major version {major}"
    return matches[max(matches)]


def errors(manifest: dict, schema_path: Path) -> list[str]:
    schema = json.loads(schema_path.read_text("utf-8"))
    cls = validators.validator_for(schema)  # from the schema's $schema (draft-07 for both Slack schemas)
    cls.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in cls(schema).iter_errors(manifest)]


def test_yaml_and_json_are_the_same_manifest() -> None:
    assert load_yaml() == load_json()


def test_manifest_targets_and_passes_the_newest_schema() -> None:
    manifest = load_yaml()
    newest = max(slack_schemas())
    path = schema_for(manifest)
    assert path == slack_schemas()[newest], f"the manifest targets {path.name}, the newest is {newest}"
    schema = json.loads(path.read_text("utf-8"))
    assert validators.validator_for(schema) is Draft7Validator
    assert errors(manifest, path) == []


def test_the_schema_check_is_not_vacuous() -> None:
    manifest = load_yaml()
    path = schema_for(manifest)
    bad = json.loads(json.dumps(manifest))
    bad["features"]["shortcuts"][0]["name"] = "Raise a professional difference about this"  # 42 > 24 characters
    bad["features"]["slash_commands"][0]["command"] = "parley"  # must start with /
    bad["settings"]["socket_mode"] = True  # unknown key
    problems = errors(bad, path)
    assert len(problems) == 3, problems


def test_app_settings() -> None:
    m = load_yaml()
    assert m["display_information"]["name"] == "Parley"
    assert m["features"]["bot_user"]["display_name"] == "Parley"
    home = m["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert home.get("messages_tab_read_only_enabled") is False  # people type to the bot in its DM
    (cmd,) = m["features"]["slash_commands"]
    assert cmd["usage_hint"] == "new | list | case REF | help" and cmd["should_escape"] is True
    (shortcut,) = m["features"]["shortcuts"]
    assert shortcut["type"] == "message" and "professional difference" in shortcut["description"]
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {"app_home_opened", "message.im"}


def test_scopes_are_least_privilege() -> None:
    scopes = load_yaml()["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}  # no user token
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert set(scopes["bot"]) == BOT_SCOPES


def test_every_command_shortcut_and_event_is_handled_by_the_app() -> None:
    m = load_yaml()
    commands = {c["command"] for c in m["features"].get("slash_commands", [])}
    shortcuts = {s["callback_id"] for s in m["features"].get("shortcuts", [])}
    # a "message.im" subscription is delivered as a "message" event (channel_type "im")
    events = {e.split(".")[0] for e in m["settings"]["event_subscriptions"]["bot_events"]}
    assert commands == HANDLED_COMMANDS
    assert shortcuts == HANDLED_SHORTCUTS
    assert events == HANDLED_EVENTS
