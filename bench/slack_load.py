"""Slack for the benchmarks: the tests' Slack stand-in (tests/adapters/slack_mock.py) in a process of its own, so
that neither the server measured nor the client measuring shares its interpreter; signed block-action clicks as
Slack sends them; and a burst of them, all in flight at once, timed one by one from the client.

The stand-in counts the Web API calls it answers (by method) and when the last one came, so a benchmark can tell
when the work behind a burst of clicks has finished (no call for a while) and check that it was done (one
``views.open`` and one ``views.update`` per click that opens a modal, a ``views.publish`` of the clicker's App
Home per other click).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.adapters.slack_mock import sign

SECRET = "bench-signing-secret"
COUNTED = ("views.open", "views.update", "views.publish", "chat.postMessage", "conversations.open",
           "chat.postEphemeral")


def _serve(url_out: Any, counts: Any, last: Any, stop: Any) -> None:
    from http.server import ThreadingHTTPServer

    from tests.adapters.slack_mock import MockSlack

    # a listen backlog for bursts (the standard library's is 5): otherwise connection attempts beyond it are dropped
    # and retried a second later, and a few calls of either server would time TCP's retry, not Slack (this process)
    ThreadingHTTPServer.request_queue_size = 1024

    class Counting(MockSlack):
        def answer(self, method: str, args: dict[str, Any], authorization: str | None = None
                   ) -> tuple[int, dict[str, Any], dict[str, str]]:
            answer = super().answer(method, args, authorization)
            with counts.get_lock():
                counts[len(COUNTED)] += 1
                if method in COUNTED:
                    counts[COUNTED.index(method)] += 1
                last.value = time.monotonic()
            self.calls.clear()  # nothing reads them here; a long run would otherwise keep every call
            return answer

    with Counting() as mock:
        url_out.send(mock.url)
        stop.wait()


class SlackStandIn:
    """``with SlackStandIn() as slack: slack.url ...``: the stand-in's Web API address, call counts, quiet wait."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._counts = ctx.Array("i", len(COUNTED) + 1)
        self._last = ctx.Value("d", 0.0)
        self._stop = ctx.Event()
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self._counts, self._last, self._stop), daemon=True)
        self._proc.start()
        if not parent.poll(60):
            self._proc.kill()
            raise RuntimeError("the Slack stand-in did not start within 60 s")
        self.url: str = parent.recv()

    def __enter__(self) -> SlackStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(10)

    def counts(self) -> dict[str, int]:
        with self._counts.get_lock():
            values = list(self._counts)
        return {**dict(zip(COUNTED, values, strict=False)), "all": values[-1]}

    def quiet_for(self, seconds: float, timeout: float) -> float:
        """Wait until no call has come for ``seconds`` (or ``timeout``); the monotonic time of the last call."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            last = max(self._last.value, began)
            if time.monotonic() - last >= seconds:
                return self._last.value
            time.sleep(0.05)
        return self._last.value


@dataclass(frozen=True)
class Click:
    user: str  # Slack user id
    action: str  # action_id
    value: str  # the case reference
    modal: bool  # the click opens a modal (a trigger_id is sent)


def click_body(n: int, click: Click) -> str:
    payload = {"type": "block_actions", "user": {"id": click.user}, "team": {"id": "T1"},
               "actions": [{"action_id": click.action, "value": click.value, "type": "button", "block_id": "b",
                            "action_ts": f"{1_700_000_000 + n}.{n % 1000:06d}"}],
               "container": {"type": "message", "message_ts": f"{1_700_000_000 + n}.000100", "channel_id": "D1"}}
    if click.modal:
        payload["trigger_id"] = f"trigger-{n}"
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


async def _burst(url: str, bodies: list[str]) -> tuple[list[float], list[int]]:
    headers = [{"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, b)} for b in bodies]
    times = [0.0] * len(bodies)
    statuses = [0] * len(bodies)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # a connection for every request, opened beforehand (GET /healthz, untimed), as Slack's kept-alive ones would
        # be: otherwise the kernel's accept queue (aiohttp's backlog, 128) drops some of the burst's connection
        # attempts and TCP retries them a second later, which times the kernel, not the server
        async def opened() -> None:
            async with session.get(url.rsplit("/", 2)[0] + "/healthz") as resp:
                await resp.read()

        await asyncio.gather(*(opened() for _ in bodies))
        start = asyncio.Event()

        async def one(i: int) -> None:
            await start.wait()
            began = time.perf_counter()
            async with session.post(url, data=bodies[i].encode(), headers=headers[i]) as resp:
                await resp.read()
                statuses[i] = resp.status
            times[i] = time.perf_counter() - began

        tasks = [asyncio.create_task(one(i)) for i in range(len(bodies))]
        await asyncio.sleep(0)  # every request ready at the gate
        start.set()
        await asyncio.gather(*tasks)
    return times, statuses


def burst(url: str, bodies: list[str]) -> list[float]:
    """Send every body at once; each request's time to its answer (the ack), in seconds. Every answer must be 200."""
    times, statuses = asyncio.run(_burst(url, bodies))
    bad = [s for s in statuses if s != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(bodies)} requests were not answered 200: {sorted(set(bad))}")
    return times


async def _steady(url: str, bodies: list[str], concurrency: int) -> int:
    queue = list(reversed(bodies))
    done = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def worker() -> None:
            nonlocal done
            while queue:
                body = queue.pop()
                headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
                async with session.post(url, data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"answered {resp.status}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def steady(url: str, bodies: list[str], concurrency: int = 10) -> int:
    """Send the bodies ``concurrency`` at a time, each as soon as one is answered; how many were answered 200."""
    return asyncio.run(_steady(url, bodies, concurrency))
