"""How Parley talks to the Bot Connector: every request has a timeout, and proactive sends (the outbox's) are
never retried inside botbuilder.

botbuilder's connector client (msrest over requests) retries 429 and 5xx three times in process, sleeping for
the Retry-After it is given (two minutes, three times, with one slow conversation holding up the deliverer), and
waits 100 s for an answer. For the outbox's sends that is wrong: the outbox retries, with backoff and the
Retry-After, without holding up other conversations. So ``BoundedAuthentication`` wraps the Bot Framework
authentication the CloudAdapter is built with and sets, on every connector client it creates, the timeout
(``PARLEY_TEAMS_TIMEOUT`` seconds, default 30) and, while ``proactive()`` is in effect, no retries at all: the
Connector's answer (status and headers) reaches the transport as it came.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botframework.connector import ConnectorClient
from botframework.connector.auth import BotFrameworkAuthentication, ClaimsIdentity, ConnectorFactory
from urllib3.util.retry import Retry

DEFAULT_TIMEOUT = 30.0
_PROACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("parley_teams_proactive", default=False)


def timeout_from_environment() -> float:
    """PARLEY_TEAMS_TIMEOUT: seconds to wait for one Bot Connector request (default 30)."""
    try:
        value = float(os.environ.get("PARLEY_TEAMS_TIMEOUT", "") or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


@contextmanager
def proactive() -> Iterator[None]:
    """Within this (the outbox's sends and updates), connector clients answer at once, without retries."""
    token = _PROACTIVE.set(True)
    try:
        yield
    finally:
        _PROACTIVE.reset(token)


class _Connectors(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, timeout: float):
        self.inner = inner
        self.timeout = timeout

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        client = await self.inner.create(service_url, audience)
        client.config.connection.timeout = self.timeout
        if _PROACTIVE.get():
            # no retries, and a 429 or 5xx comes back as the Connector's answer (status, Retry-After) instead of
            # urllib3's "too many retries". msrest applies its policy when a requests session is made, and the
            # client has made one already (for this thread): that session is given the policy too.
            policy = Retry(total=False, raise_on_status=False)
            client.config.retry_policy.policy = policy
            driver = getattr(getattr(getattr(client.config, "pipeline", None), "_sender", None), "driver", None)
            session = getattr(driver, "session", None)
            for adapter in getattr(session, "adapters", {}).values():
                adapter.max_retries = policy
        return client


class BoundedAuthentication(BotFrameworkAuthentication):
    """The given authentication, with the connector clients it makes bounded as described above."""

    def __init__(self, inner: BotFrameworkAuthentication, timeout: float):
        self.inner = inner
        self.timeout = timeout

    async def authenticate_request(self, activity: Any, auth_header: str) -> Any:
        result = await self.inner.authenticate_request(activity, auth_header)
        if getattr(result, "connector_factory", None) is not None:  # the turn's own replies: the timeout too
            result.connector_factory = _Connectors(result.connector_factory, self.timeout)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str) -> Any:
        return await self.inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _Connectors(self.inner.create_connector_factory(claims_identity), self.timeout)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        return await self.inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> Any:
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)
