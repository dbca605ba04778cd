"""Generic outbound webhook: delivers Parley's outbox messages as JSON to one HTTP endpoint.

For deployments that forward notifications to another system (a case-management tool, an email relay),
and for the scheduler's process tests. People and channels are addressed on the ``webhook`` platform
(person identities and agency channels with platform ``webhook``).

Protocol: ``POST {url}`` with the message as JSON and an ``Idempotency-Key`` header; the endpoint answers
``{"id": "..."}``. ``GET {url}?key=KEY`` answers 200 with ``{"id": ...}`` when it already holds a message
with that key (or 404), which closes the crash window between sending and recording the send.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from bot.delivery.delivery import DeliveryError, Outgoing
from bot.core.messages import message_to_data


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


class WebhookTransport:
    platform = "webhook"

    def __init__(self, url: str, timeout: float = 10.0):  # PARLEY_SEND_TIMEOUT: a slower answer is retried
        self.url = url
        self.timeout = timeout

    def _request(self, req: urllib.request.Request) -> dict | None:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
                return json.loads(body) if body else {}
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and req.get_method() == "GET":
                return None
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            # 403, 404 and other refusals of the address or the message: permanent; 408, 429 and 5xx: retried
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 409, 425, 429)
            raise DeliveryError(f"HTTP {exc.code}", retry_after=_seconds(retry_after), permanent=permanent,
                                reason=f"HTTP {exc.code}") from exc
        except TimeoutError as exc:
            raise DeliveryError("no answer in time", reason="timeout") from exc
        except (urllib.error.URLError, OSError) as exc:
            timeout = isinstance(getattr(exc, "reason", None), TimeoutError)
            raise DeliveryError(f"unreachable: {type(exc).__name__}", reason="timeout" if timeout else
                                "unreachable") from exc

    def _post(self, msg: Outgoing, update_of: str | None) -> str:
        body = {"key": msg.key, "target": msg.target_kind, "address": msg.address, "case_id": msg.case_id,
                "message": message_to_data(msg.message), "update_of": update_of}
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Idempotency-Key": msg.key})
        answer = self._request(req) or {}
        return str(answer.get("id") or msg.key)

    def send(self, msg: Outgoing) -> str:
        return self._post(msg, None)

    def update(self, msg: Outgoing) -> str:
        return self._post(msg, msg.update_of_external_id)

    def find_sent(self, msg: Outgoing) -> str | None:
        q = urllib.parse.urlencode({"key": msg.key})
        sep = "&" if "?" in self.url else "?"
        found = self._request(urllib.request.Request(f"{self.url}{sep}{q}", method="GET"))
        return str(found.get("id") or msg.key) if found is not None else None
