"""The neutral messages every channel speaks: an `Incoming` in, a list of `Reply` out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Incoming:
    """One update from any platform, as the conversations see it."""

    platform: str  # core.platforms.Platform value
    chat_id: str
    user_id: str
    text: str | None = None
    button: str | None = None  # the data of a pressed button
    update_id: str | None = None  # the platform's id, for dropping redeliveries
    chat_type: str = "private"  # private | group | channel
    attachment: str | None = None  # photo, sticker, voice, document... (we only read text)


PRIMARY, DANGER = "primary", "danger"  # a Button's style: the choice to take, or one that throws work away


@dataclass(frozen=True)
class Button:
    label: str
    data: str
    # "" for an ordinary choice; PRIMARY or DANGER where a channel can show it (Slack and Telegram
    # button styles, the web chat's classes), so "Discard" never looks like "Save".
    style: str = ""


@dataclass
class Reply:
    """Something to show: text, optional rows of buttons, an image or a file."""

    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    image: bytes | None = None
    image_name: str = "chart.png"
    image_alt: str = ""  # what the image shows, in words, for anyone who cannot see it
    file: bytes | None = None
    file_name: str = "record.csv"
    file_type: str = "text/csv"
    # Staff-only or safeguarding words, or a secret (a sign-in code): shown to the person, but kept
    # only encrypted in transcripts and conversation state, never in clear.
    sealed: bool = False


def sealed(replies: list[Reply]) -> list[Reply]:
    """The same replies, each marked `sealed`."""
    for reply in replies:
        reply.sealed = True
    return replies
