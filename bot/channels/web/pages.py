"""The web chat's pages as HTML text. Every value from a person or the database goes through `escape`.

No inline scripts or styles (the Content-Security-Policy forbids them): behaviour lives in
`static/chat.js` beside this file, looks in `static/app.css`. The pages work without JavaScript too:
the text box and the choice buttons are one ordinary form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from bot.channels.web.media import file_ids, payload_of
from core.messages import DANGER, PRIMARY
from storage import transcript
from storage.crypto import KeyLike
from storage.models import TranscriptLine

STYLESHEET = "/static/app.css"
SCRIPT = "/static/chat.js"
STYLES = {PRIMARY, DANGER}  # button styles the page has a class for (.choice-primary, .choice-danger)
SIGNED_IN_WITH_CODE = "(my sign-in code)"  # true whether or not the code worked

BAD_FORM = "This page was open too long or came from somewhere else. Reload the page and try again."
NO_COOKIES = (
    "Your browser blocked the cookie Waymark needs to sign you in. Allow cookies for this site, then try again."
)
LINK_INVALID = (
    "This link doesn't work any more. Links last 30 days and work once. "
    "Ask your old school's careers team for a new one if you'd like to tell them what you're doing."
)
SIGNED_OUT = "You're signed out. To use Waymark on this device again you'll need a new code from your tutor."
SIGN_OUT_WARNING = (
    "If you sign out, you'll need a new code from your tutor or the careers team to use Waymark "
    "on this device again. Everything you've saved stays safe."
)
EMPTY_SEND = "Type a message in the box first, or tap one of the choices."
OLD_BUTTON = "(a button from an earlier message)"


@dataclass(frozen=True)
class Choice:
    label: str
    data: str
    style: str = ""  # core.messages PRIMARY or DANGER: a class of its own, so Discard never looks like Save


@dataclass
class LineView:
    """One message as the page shows it: never the raw payload (which may hold bytes)."""

    id: int
    direction: str  # in | out
    text: str
    choices: list[list[Choice]] = field(default_factory=list)
    image_url: str | None = None
    image_name: str | None = None
    image_alt: str | None = None
    file_url: str | None = None
    file_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dir": self.direction,
            "text": self.text,
            "buttons": [[{"label": c.label, "data": c.data, "style": c.style} for c in row] for row in self.choices],
            "image": {"url": self.image_url, "name": self.image_name, "alt": self.image_alt or self.image_name}
            if self.image_url
            else None,
            "file": {"url": self.file_url, "name": self.file_name} if self.file_url else None,
        }


def _choices(payload: dict[str, Any]) -> list[list[Choice]]:
    rows: list[list[Choice]] = []
    for row in payload.get("buttons") or []:
        if isinstance(row, list):
            picked = [
                Choice(str(b.get("label", "")), str(b.get("data", "")), _style(b.get("style")))
                for b in row
                if isinstance(b, dict) and b.get("data")
            ]
            if picked:
                rows.append(picked)
    return rows


def _style(value: object) -> str:
    return value if value in STYLES else ""


def line_views(lines: list[TranscriptLine], labels: dict[str, str], keys: KeyLike) -> list[LineView]:
    """Views of transcript lines, in order; sealed lines (staff-only words) decrypted with `keys`.

    A pressed button is recorded as its data ("/reflect"); the page shows its label ("Reflect"),
    looked up in `labels`: every button offered so far, the latest label for each data winning
    (updated as lines go by). A button pressed on an older page, or in another tab, still shows as
    its label, never as its data ("sk:1"); one whose label is no longer known says so.
    """
    views: list[LineView] = []
    for line in lines:
        assert line.id is not None
        payload = payload_of(line)
        view = LineView(id=line.id, direction=line.direction, text=transcript.shown(line, keys))
        if line.direction == "in":
            if line.text.startswith("/start ") and len(line.text) < 40:
                view.text = SIGNED_IN_WITH_CODE  # the transcript never keeps the code itself
            elif view.text in labels:
                view.text = labels[view.text]
            elif payload.get("pressed"):
                view.text = OLD_BUTTON
        else:
            view.choices = _choices(payload)
            labels.update({c.data: c.label for row in view.choices for c in row})
            image_id, file_id = file_ids(line)
            if image_id is not None:
                view.image_url = f"/media/{line.id}"
                view.image_name = str(payload.get("image") or "image.png")
                view.image_alt = str(payload.get("image_alt") or "") or None
            elif file_id is not None:  # /media/<line> serves the image first: a line offers one or the other
                view.file_url = f"/media/{line.id}"
                view.file_name = str(payload.get("file") or "download")
        views.append(view)
    return views


def current_choices(views: list[LineView]) -> list[list[Choice]]:
    """The buttons to offer now: those of the latest bot message after the person's last message."""
    for view in reversed(views):
        if view.direction == "in":
            return []
        if view.choices:
            return view.choices
    return []


def _header(school: str, extra: str = "") -> str:
    return (
        f'<header class="top"><div class="top-row"><p class="school">{escape(school)}</p>'
        f'<a class="privacy-link" href="/privacy">Privacy</a></div>{extra}</header>'
    )


def _document(title: str, school: str, body: str, *, script: bool = False) -> str:
    return _page(title, _header(school) + body, script=script)


def _page(title: str, body: str, *, script: bool = False, body_class: str = "") -> str:
    script_tag = f'<script src="{SCRIPT}" defer></script>' if script else ""
    klass = f' class="{body_class}"' if body_class else ""
    return (
        "<!doctype html>\n"
        '<html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}"><link rel="icon" href="/static/icon.svg" type="image/svg+xml">'
        f"{script_tag}</head>"
        f"<body{klass}>{body}</body></html>"
    )


def signin_page(
    school: str,
    csrf: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    code: str = "",
    from_link: bool = False,
) -> str:
    """The sign-in form; from a sign-in link the code is filled in and one press signs in."""
    alert = f'<p class="alert" role="alert" id="signin-error">{escape(error)}</p>' if error else ""
    if from_link and not notice:
        notice = "Your code is filled in. Press Sign in to start."
    note = f'<p class="notice" role="status">{escape(notice)}</p>' if notice else ""
    described = (
        ' aria-describedby="code-help signin-error" aria-invalid="true"' if error else ' aria-describedby="code-help"'
    )
    body = (
        '<main class="card" id="main">'
        "<h1>Sign in to Waymark</h1>"
        f"{note}{alert}"
        '<form method="post" action="/signin" class="signin">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label for="code">Your enrolment code</label>'
        f'<input id="code" name="code" type="text" value="{escape(code)}" required maxlength="40" '
        'autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" '
        f'inputmode="text"{described}>'
        '<p class="help" id="code-help">Your tutor or the careers team gives you this code. '
        "It looks like ABCDE-23456. You only need it once on this device.</p>"
        '<button type="submit" class="primary">Sign in</button>'
        "</form></main>"
    )
    return _document("Sign in · Waymark", school, body)


def message_page(school: str, heading: str, text: str, *, link: tuple[str, str] | None = None) -> str:
    more = f'<p><a class="primary-link" href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    body = f'<main class="card" id="main"><h1>{escape(heading)}</h1><p>{escape(text)}</p>{more}</main>'
    return _document(f"{heading} · Waymark", school, body)


def privacy_page(school: str, for_pupils: str, for_staff: str, for_alumni: str) -> str:
    """The same notice /privacy gives in the chat, for anyone, signed in or not; for former pupils
    only what differs for them (who reads it)."""

    def paragraphs(text: str) -> str:
        return "".join(f"<p>{escape(part)}</p>" for part in text.split("\n\n"))

    body = (
        '<main class="card" id="main"><h1>Who can read what you write</h1>'
        f"{paragraphs(for_pupils)}<h2>For former pupils</h2>{paragraphs(for_alumni)}"
        f"<h2>For staff</h2>{paragraphs(for_staff)}"
        '<p><a href="/chat">Back to the chat</a></p></main>'
    )
    return _document("Privacy · Waymark", school, body)


def checkin_page(school: str, csrf: str, token: str) -> str:
    body = (
        '<main class="card" id="main"><h1>Hello again!</h1>'
        "<p>Your old school would love to know what you're doing now. It takes a minute.</p>"
        f'<form method="post" action="/c/{escape(token)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="primary">Start my check-in</button></form></main>'
    )
    return _document("Check in · Waymark", school, body)


def signout_page(school: str, csrf: str) -> str:
    """Signing out asks first: the code that signed this device in works once, so coming back needs a new one."""
    body = (
        '<main class="card" id="main"><h1>Sign out of Waymark?</h1>'
        f"<p>{escape(SIGN_OUT_WARNING)}</p>"
        '<form method="post" action="/signout" class="actions">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="quiet">Yes, sign out</button>'
        '<a class="primary-link" href="/chat#latest">Stay signed in</a></form></main>'
    )
    return _document("Sign out? · Waymark", school, body)


def _line_html(view: LineView, latest: bool = False) -> str:
    who = "You" if view.direction == "in" else "Waymark"
    anchor = ' id="latest"' if latest else ""
    parts = [
        f'<li class="msg msg-{escape(view.direction)}" data-id="{view.id}"{anchor}>',
        f'<span class="visually-hidden">{who}: </span>',
        f'<p class="text" dir="auto">{escape(view.text)}</p>',
    ]
    if view.image_url:
        # Tapping the chart opens it full size; the image's own text says what it shows.
        parts.append(
            f'<a class="media-link" href="{escape(view.image_url)}" target="_blank" rel="noopener">'
            f'<img class="media" src="{escape(view.image_url)}" alt="{escape(view.image_alt or view.image_name or "image")}">'
            '<span class="media-hint">Open full size</span></a>'
        )
    if view.file_url:
        parts.append(
            f'<a class="file" href="{escape(view.file_url)}" download="{escape(view.file_name or "download")}">'
            f"Download {escape(view.file_name or 'file')}</a>"
        )
    parts.append("</li>")
    return "".join(parts)


def _classes(choice: Choice) -> str:
    return f"choice choice-{choice.style}" if choice.style else "choice"


def choices_html(choices: list[list[Choice]]) -> str:
    return "".join(
        f'<button type="submit" form="composer" name="button" value="{escape(c.data)}" class="{_classes(c)}" dir="auto">'
        f"{escape(c.label)}</button>"
        for row in choices
        for c in row
    )


def _earlier_link(views: list[LineView], more: bool) -> str:
    """A link to the page of lines before these, when there are any (`more`)."""
    if not (more and views):
        return ""
    return f'<p class="earlier"><a href="/chat?before={views[0].id}">Earlier messages</a></p>'


def earlier_page(school: str, views: list[LineView], more: bool) -> str:
    """Older lines of the conversation, paged back from the chat (`/chat?before=ID`): a plain page
    without the live chat's script, so it works without JavaScript and nothing new lands in it."""
    items = "".join(_line_html(v) for v in views) or '<li class="msg msg-out"><p class="text">Nothing earlier.</p></li>'
    body = (
        '<main id="main" class="chat">'
        "<h1>Earlier messages</h1>"
        f"{_earlier_link(views, more)}"
        f'<ol class="log" aria-label="Earlier messages">{items}</ol>'
        '<p class="later"><a href="/chat">Back to the latest messages</a></p>'
        "</main>"
    )
    return _document(f"Earlier messages · {school} · Waymark", school, body)


def chat_page(
    school: str,
    person_name: str,
    csrf: str,
    views: list[LineView],
    message_id: str,
    *,
    max_text: int,
    status: str = "",
    draft: str = "",
    earlier: bool = False,
) -> str:
    """Laid out like a messaging app: the conversation scrolls (the school's name and the account bar
    scroll away with it), and only the one-line message box with Send beside it stays at the bottom,
    outside the scrolling part, so nothing is ever hidden under it. `earlier` when older lines than `views` exist (a link
    pages back to them)."""
    last_id = views[-1].id if views else 0
    log_items = "".join(_line_html(v, latest=i == len(views) - 1) for i, v in enumerate(views))
    empty = "" if views else '<li class="msg msg-out" id="latest"><p class="text">Say hello, or send /help.</p></li>'
    account = (
        '<div class="bar">'
        f'<p class="who">Signed in as {escape(person_name)}</p>'
        '<a class="quiet signout-link" href="/signout">Sign out</a></div>'
    )
    body = (
        '<div class="scroller" id="scroller">'
        '<a class="skip" href="#message">Skip to the message box</a>'
        f"{_header(school, account)}"
        '<main id="main" class="chat">'
        '<h1 class="visually-hidden">Chat with Waymark</h1>'
        f"{_earlier_link(views, earlier)}"
        f'<div id="log" class="log" role="log" aria-live="polite" aria-label="Conversation" data-last-id="{last_id}">'
        f'<ol class="lines">{log_items}{empty}</ol></div>'
        f'<div id="choices" class="choices" role="group" aria-label="Choices">{choices_html(current_choices(views))}</div>'
        "</main></div>"
        '<form id="composer" class="composer" method="post" action="/send" aria-label="Send a message" '
        f'data-empty="{escape(EMPTY_SEND)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="mid" value="{escape(message_id)}">'
        f'<p id="status" class="status{" problem" if status else ""}" role="status">{escape(status)}</p>'
        '<div class="compose-row">'
        '<label for="message" class="visually-hidden">Your message</label>'
        f'<textarea id="message" name="text" rows="1" dir="auto" enterkeyhint="send" data-max="{max_text}" '
        f'placeholder="Message" aria-describedby="message-help">{escape(draft)}</textarea>'
        '<button type="submit" class="primary send">Send</button></div>'
        '<p id="message-help" class="visually-hidden">Press Enter to send, Shift and Enter for a new line.</p>'
        "</form>"
    )
    return _page(f"{school} · Waymark", body, script=True, body_class="chat-body")
