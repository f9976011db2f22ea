"""The web chat: the school's own channel, for every pupil of any age.

    session.py  cookies, CSRF tokens, where a request came from, who is signed in
    live.py     the pages open in this process (WebSocket hub), new transcript lines and outbox rows to them
    media.py    images and files from transcript lines
    pages.py    the HTML pages (static/ holds their script, styles and icon)
    routes.py   the aiohttp handlers, and `install` to mount them
    web.mmd     how a browser signs in and talks

Signing in, check-in links and signing out are platform-free steps in `handlers.signin`; every
message goes through the same `dispatch` as every other channel.
"""

from bot.channels.web.routes import WEB_CHAT, WebChat, install

__all__ = ["WEB_CHAT", "WebChat", "install"]
