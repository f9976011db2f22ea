"""What Waymark knows about each platform, in one table that every part reads.

The runner, the outbox sender, the age gate and the wording all look a platform up here, so a new
channel is one row below plus one subpackage in `bot/channels/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    web = "web"
    telegram = "telegram"
    slack = "slack"
    console = "console"
    email = "email"


@dataclass(frozen=True)
class SendLimits:
    per_second: float | None  # messages a second for the whole bot; None: no limit
    per_chat_interval: float | None = None  # seconds between two messages to one chat


@dataclass(frozen=True)
class PlatformFacts:
    platform: Platform
    label: str  # how a sentence names it: "You can't use Waymark on Telegram"
    pulled: bool  # the page or terminal takes its outbox rows when open; the sender never pushes them
    transcribed: bool  # keeps a transcript the page (or terminal) shows again
    inbound: bool  # people write to Waymark here (email is outbound only)
    min_age_setting: str | None  # the Settings field holding its minimum age; None: the school's own, any age
    limits: SendLimits
    # Longest one message may be, in the platform's own measure (Telegram: UTF-16 units; Slack: a
    # section's characters after escaping); a longer reply is split. None: any length.
    text_limit: int | None = None
    # The button a leaver taps to have their yearly message sent here; None: not offered (the web
    # chat only shows messages while it is open, so a web-only leaver is asked for an email).
    choice_label: str | None = None


PLATFORMS: dict[str, PlatformFacts] = {
    f.platform.value: f
    for f in (
        PlatformFacts(
            Platform.web,
            "the web chat",
            pulled=True,
            transcribed=True,
            inbound=True,
            min_age_setting=None,
            limits=SendLimits(None),
        ),
        PlatformFacts(
            Platform.console,
            "the terminal",
            pulled=True,
            transcribed=True,
            inbound=True,
            min_age_setting=None,
            limits=SendLimits(None),
            choice_label="This terminal",
        ),
        # Telegram: about 30 messages a second per bot, about one a second to one private chat.
        PlatformFacts(
            Platform.telegram,
            "Telegram",
            pulled=False,
            transcribed=False,
            inbound=True,
            min_age_setting="min_age_telegram",
            limits=SendLimits(30.0, 1.0),
            choice_label="Telegram",
            text_limit=4096,
        ),
        # Slack: chat.postMessage allows about one message a second per channel.
        PlatformFacts(
            Platform.slack,
            "Slack",
            pulled=False,
            transcribed=False,
            inbound=True,
            min_age_setting="min_age_slack",
            limits=SendLimits(20.0, 1.0),
            choice_label="Slack",
            text_limit=3000,
        ),
        PlatformFacts(
            Platform.email,
            "email",
            pulled=False,
            transcribed=False,
            inbound=False,
            min_age_setting=None,
            limits=SendLimits(5.0),
            choice_label="Email",
        ),
    )
}


def facts(platform: str) -> PlatformFacts | None:
    return PLATFORMS.get(platform)


def label(platform: str) -> str:
    found = PLATFORMS.get(platform)
    return found.label if found else platform


def is_transcribed(platform: str) -> bool:
    found = PLATFORMS.get(platform)
    return found is not None and found.transcribed


def is_pulled(platform: str) -> bool:
    found = PLATFORMS.get(platform)
    return found is not None and found.pulled


def choice_labels() -> dict[str, str]:
    """Platform -> the button a leaver taps to get their yearly message there (table order)."""
    return {name: f.choice_label for name, f in PLATFORMS.items() if f.choice_label}
