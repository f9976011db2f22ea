"""The base every channel shares: splitting by a platform's measure, the retry loop, per-chat order."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.ordering import ChatLines
from bot.channels.retry import MAX_ATTEMPTS, NETWORK_BACKOFF, FloodGate, Unreachable, call_with_retry
from bot.channels.text import rest_after, split_text
from core.delivery import Delivery, SendOutcome

log = logging.getLogger("waymark.test")


def doubled(text: str) -> int:
    """A measure where some characters cost more than one, like Telegram's emoji or Slack's `&`."""
    return sum(2 if ch in "&é" else 1 for ch in text)


@given(st.text(alphabet="ab &é\n", max_size=400), st.integers(min_value=2, max_value=60))
def test_split_keeps_every_piece_within_the_measure_and_loses_nothing(text: str, limit: int) -> None:
    parts = split_text(text, limit, doubled)
    assert all(doubled(p) <= limit for p in parts)
    # Only the whitespace at a cut goes; every other character arrives, in order.
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_split_cuts_at_a_paragraph_then_a_line_then_a_word() -> None:
    assert split_text("first part\n\nsecond part", 16) == ["first part", "second part"]
    assert split_text("one line\nand another", 14) == ["one line", "and another"]
    assert split_text("words and words", 12) == ["words and", "words"]
    assert split_text("", 10) == [] and split_text("short", 10) == ["short"]


def test_rest_after_is_what_did_not_go_out() -> None:
    text = "alpha beta\n\ngamma delta"
    parts = split_text(text, 11)
    assert parts == ["alpha beta", "gamma delta"]
    assert rest_after(text, parts, 1) == "gamma delta"
    assert rest_after(text, parts, 0) is None and rest_after(text, parts, 2) is None


class Refused(Exception):
    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def classify(error: Exception) -> SendOutcome | None:
    return error.outcome if isinstance(error, Refused) else None


class Platform:
    """Answers each call with the next of `answers` (an outcome to raise, or a value to return)."""

    def __init__(self, *answers: SendOutcome | str) -> None:
        self.answers = list(answers)
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(time.monotonic())
        answer = self.answers.pop(0)
        if isinstance(answer, SendOutcome):
            raise Refused(answer)
        return answer


async def test_a_429_is_waited_out_for_as_long_as_the_platform_says() -> None:
    platform = Platform(SendOutcome(Delivery.retry, 0.2, "slow down"), "sent")
    assert await call_with_retry(platform, classify=classify, log=log) == "sent"
    assert platform.calls[1] - platform.calls[0] >= 0.19


async def test_max_wait_caps_one_429() -> None:
    platform = Platform(SendOutcome(Delivery.retry, 30.0, "slow down"), "sent")
    assert await call_with_retry(platform, classify=classify, log=log, max_wait=0.05) == "sent"
    assert platform.calls[1] - platform.calls[0] < 1.0


async def test_network_errors_back_off_and_the_last_one_is_raised() -> None:
    platform = Platform(SendOutcome(Delivery.retry, error="timed out"), "sent")
    assert await call_with_retry(platform, classify=classify, log=log) == "sent"
    assert platform.calls[1] - platform.calls[0] >= NETWORK_BACKOFF[0] - 0.01
    storm = Platform(*[SendOutcome(Delivery.retry, 0.0, "slow down")] * MAX_ATTEMPTS)
    with pytest.raises(Refused):
        await call_with_retry(storm, classify=classify, log=log)
    assert len(storm.calls) == MAX_ATTEMPTS


async def test_telegram_has_the_last_word_after_a_flood_storm() -> None:
    """Telegram's replies wait out a fifth 429 and try once more (a fifth network error is raised, as above)."""
    storm = Platform(*[SendOutcome(Delivery.retry, 0.0, "slow down")] * MAX_ATTEMPTS, "sent")
    assert await call_with_retry(storm, classify=classify, log=log, last_word_after_flood=True) == "sent"
    assert len(storm.calls) == MAX_ATTEMPTS + 1


async def test_unreachable_and_failed_are_not_tried_again() -> None:
    gone = Platform(SendOutcome(Delivery.unreachable, error="blocked"), "never")
    with pytest.raises(Unreachable, match="blocked"):
        await call_with_retry(gone, classify=classify, log=log)
    broken = Platform(SendOutcome(Delivery.failed, error="bad request"), "never")
    with pytest.raises(Refused):
        await call_with_retry(broken, classify=classify, log=log)
    assert len(gone.calls) == len(broken.calls) == 1

    async def not_the_platforms() -> str:
        raise KeyError("ours")

    with pytest.raises(KeyError):
        await call_with_retry(not_the_platforms, classify=classify, log=log)


async def test_one_429_behind_a_gate_pauses_every_call_sharing_it() -> None:
    gate = FloodGate()
    refused = Platform(SendOutcome(Delivery.retry, 0.3, "slow down"), "sent")
    other = Platform("sent")
    first = asyncio.create_task(call_with_retry(refused, classify=classify, log=log, gate=gate))
    while not refused.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    started = time.monotonic()
    assert await call_with_retry(other, classify=classify, log=log, gate=gate) == "sent"
    assert other.calls[0] - started >= 0.2  # it waited for the pause another call was given
    assert await first == "sent"


async def test_one_chat_in_order_other_chats_at_once_and_idle_chats_forgotten() -> None:
    lines = ChatLines()
    seen: list[str] = []
    slow_started = asyncio.Event()

    async def handle(chat: str, name: str, pause: float) -> None:
        async with lines.turn(chat):
            if pause:
                slow_started.set()
            await asyncio.sleep(pause)
            seen.append(name)

    slow = asyncio.create_task(handle("a", "a1", 0.2))
    await slow_started.wait()
    behind = asyncio.create_task(handle("a", "a2", 0))
    await handle("b", "b1", 0)  # not held up by chat a
    assert seen == ["b1"] and len(lines) == 1
    await asyncio.gather(slow, behind)
    assert seen == ["b1", "a1", "a2"] and len(lines) == 0
