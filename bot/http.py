"""The one HTTP server of `waymark run`: the web chat, and room for the Telegram webhook and Slack endpoint.

aiohttp freezes an application's routes when it starts, so routes are added in two steps:

    app = build_app(settings, dispatcher)          # the web chat's routes are in place
    telegram_stop = await start_telegram(settings, dispatcher, app)   # adds /telegram/webhook
    http_stop, app = await start_http(settings, dispatcher, app=app)  # freezes and listens

Anything that wants a route (or an `on_startup` / `on_cleanup` hook) gets the app from `build_app`
and adds it before `start_http`. `start_http` without `app=` builds one itself, and `extra_routes`
takes functions `install(app)` for callers that prefer to hand them over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from bot.channels.web import install as install_web_chat
from bot.connections import GuardedSite, Limits, read_body_within, timed_requests
from core.settings import Settings
from handlers import Dispatcher
from storage.db import problem_line

log = logging.getLogger(__name__)

RouteInstaller = Callable[[web.Application], None]
# Filled in once listening (the app is frozen by then, so it holds a list rather than a value).
BOUND_PORTS = web.AppKey("waymark_bound_ports", list)
SITE = web.AppKey("waymark_site", list)  # the one GuardedSite, once listening (tests read its guard)


DATABASE_DOWN = "Waymark can't reach its database just now. Nothing was lost: please try again in a minute."


@web.middleware
async def database_trouble(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A database that is read-only, missing, dropped or on a full disk: one log line and a 503 in
    words, not a 500 with a traceback; the next request tries again (PostgreSQL's pool checks each
    connection before use, so the process recovers without a restart once the database is back)."""
    try:
        return await handler(request)
    except DBAPIError as exc:
        log.error("database unavailable (%s %s): %s", request.method, request.path, problem_line(exc))
        return web.Response(status=503, text=DATABASE_DOWN, headers={"Retry-After": "30"})


def build_app(
    settings: Settings, dispatcher: Dispatcher, extra_routes: Sequence[RouteInstaller] = ()
) -> web.Application:
    """The application with the web chat mounted; add more routes before it starts."""
    app = web.Application(
        client_max_size=1024 * 1024,
        middlewares=[timed_requests, database_trouble, read_body_within(settings.http_body_timeout)],
    )
    install_web_chat(app, settings, dispatcher)
    for install in extra_routes:
        install(app)
    return app


async def start_http(
    settings: Settings,
    dispatcher: Dispatcher,
    extra_routes: Sequence[RouteInstaller] = (),
    *,
    app: web.Application | None = None,
) -> tuple[Callable[[], Awaitable[None]], web.Application]:
    """Start listening on WAYMARK_HTTP_HOST:WAYMARK_HTTP_PORT; returns (stop, app).

    The port actually bound (useful with port 0) is `app[BOUND_PORTS][0]`.
    """
    if app is None:
        app = build_app(settings, dispatcher)
    for install in extra_routes:
        install(app)
    bound: list[int] = []
    app[BOUND_PORTS] = bound
    app[SITE] = []
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    limits = Limits(
        max_connections=settings.http_max_connections,
        max_per_address=settings.http_max_per_address,
        header_timeout=settings.http_header_timeout,
    )
    site = GuardedSite(runner, settings.http_host, settings.http_port, limits, backlog=2048)
    app[SITE].append(site)
    await site.start()
    port = settings.http_port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            port = int(address[1])
            break
    bound.append(port)
    log.info("web chat listening on http://%s:%s (public address %s)", settings.http_host, port, settings.public_url)

    async def stop() -> None:
        await runner.cleanup()

    return stop, app
