"""How Parley talks to the Bot Connector: every request has a timeout, and proactive sends (the outbox's) are
never retried inside botbuilder.

botbuilder's connector client (msrest over requests) retries 429 and 5xx three times in process, sleeping for
the Retry-After it is given (two minutes, three times, with one slow conversation holding up the deliverer), and
waits 100 s for an answer. For the outbox's sends that is wrong: the outbox retries, with backoff and the
Retry-After, without holding up other conversations. So ``BoundedAuthentication`` wraps the Bot Framework
authentication the CloudAdapter is built with and sets, on every connector client it creates, the timeout
(``PARLEY_TEAMS_TIMEOUT`` seconds, default 30) and, while ``proactive()`` is in effect, no retries at all: the
Connector's answer (status and headers) reaches the transport as it came.

botbuilder also makes, for every turn, a client of the Bot Framework token service (for OAuth sign-in, which
Parley does not use); building one costs as much as a connector client (msrest's retry policy). The turn is given
a stand-in that builds the real client only if one of its methods is ever called.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botframework.connector import ConnectorClient
from botframework.connector.auth import BotFrameworkAuthentication, ClaimsIdentity, ConnectorFactory, UserTokenClient
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
        return _LazyUserTokens(self.inner, claims_identity)  # made when first used: never, in Parley

    def create_bot_framework_client(self) -> Any:
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self.inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)


class _LazyUserTokens(UserTokenClient):
    """The turn's user token client, made by ``inner`` the first time one of its methods is called."""

    def __init__(self, inner: BotFrameworkAuthentication, claims_identity: ClaimsIdentity):
        self._inner = inner
        self._claims_identity = claims_identity
        self._client: UserTokenClient | None = None

    async def _real(self) -> UserTokenClient:
        if self._client is None:
            self._client = await self._inner.create_user_token_client(self._claims_identity)
        return self._client

    async def get_user_token(self, user_id: str, connection_name: str, channel_id: str, magic_code: str) -> Any:
        return await (await self._real()).get_user_token(user_id, connection_name, channel_id, magic_code)

    async def get_sign_in_resource(self, connection_name: str, activity: Any, final_redirect: str) -> Any:
        return await (await self._real()).get_sign_in_resource(connection_name, activity, final_redirect)

    async def sign_out_user(self, user_id: str, connection_name: str, channel_id: str) -> Any:
        return await (await self._real()).sign_out_user(user_id, connection_name, channel_id)

    async def get_token_status(self, user_id: str, channel_id: str, include_filter: str) -> Any:
        return await (await self._real()).get_token_status(user_id, channel_id, include_filter)

    async def get_aad_tokens(self, user_id: str, connection_name: str, resource_urls: list[str],
                             channel_id: str) -> Any:
        return await (await self._real()).get_aad_tokens(user_id, connection_name, resource_urls, channel_id)

    async def exchange_token(self, user_id: str, connection_name: str, channel_id: str, exchange_request: Any
                             ) -> Any:
        return await (await self._real()).exchange_token(user_id, connection_name, channel_id, exchange_request)
