"""``/readyz`` and ``/metrics`` on an aiohttp app (Slack's, Teams', or both under one), for operators; ``/healthz``
stays the servers' own liveness answer. What is checked and measured is bot/admin/readiness.py's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.admin.readiness import Metrics, Readiness

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def attach(app: web.Application, readiness: Readiness, metrics: Metrics) -> None:
    """Add the two routes, and time every request by its route pattern (never its path: a file link's token or
    a case reference must not become a label)."""

    @web.middleware
    async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)

    async def ready(_: web.Request) -> web.Response:
        checks = await asyncio.get_running_loop().run_in_executor(None, readiness.checks)
        failing = [c for c in checks if not c.ok]
        body = "\n".join(f"{'ok' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks) + "\n"
        return web.Response(status=503 if failing else 200, text=body,
                            headers={"Cache-Control": "no-store"})

    async def scrape(_: web.Request) -> web.Response:
        data = await asyncio.get_running_loop().run_in_executor(None, generate_latest, metrics.registry)
        return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    app.middlewares.append(timed)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", scrape)


def ops_app(readiness: Readiness, metrics: Metrics) -> web.Application:
    """A server of its own for a process with no chat endpoint (``parley scheduler``, Slack's Socket Mode)."""
    app = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", health)
    attach(app, readiness, metrics)
    return app


def serve_in_background(app: web.Application, port: int, host: str = "0.0.0.0") -> None:
    """Serve ``app`` on ``port`` from a thread of its own (the process's main thread runs the scheduler)."""
    loop = asyncio.new_event_loop()

    async def start() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

    loop.run_until_complete(start())
    threading.Thread(target=loop.run_forever, name="parley-ops-http", daemon=True).start()
