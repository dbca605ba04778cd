"""``/parley register …`` typed in a Slack channel: the channel becomes where an agency's managers (or the business
unit, or the chair) are told, once Slack confirms that Parley is in it (bot/admin/channels.py does the rest)."""

from __future__ import annotations

import datetime as dt

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.admin import channels
from bot.cases.errors import ServiceError
from bot.core.i18n import translator
from bot.runtime import PersonInfo, Runtime

PLATFORM = "slack"


def register_here(client: WebClient, rt: Runtime, now: dt.datetime, person: PersonInfo, channel: str,
                  registration: channels.Registration) -> str:
    """The answer to ``person`` typing a registration in ``channel``: Parley must be in it to post there later."""
    T = translator(person.language)
    if not channel or channel.startswith("D"):
        return T("Type this in the channel you want to register.")
    try:
        member = bool(client.conversations_info(channel=channel)["channel"].get("is_member"))
    except SlackApiError:
        member = False  # a private channel Parley is not in: Slack will not even show it
    if not member:
        return T("Invite Parley to this channel first (/invite @Parley), then register it.")
    try:
        return channels.register(rt.factory, person.id, PLATFORM, channel, registration, now)
    except ServiceError as exc:
        return exc.message
