"""The web chat on a phone, in a real headless Chromium: what is on screen after each reply, where the
keyboard focus goes, axe-core, and that no message is lost when the connection or the server drops."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine

from bot.channels.web import WEB_CHAT
from bot.http import build_app
from handlers import Dispatcher, texts
from reports.charts import DPI, MIN_FONT_PT
from storage import seed
from storage.models import StaffRole
from tests.test_reports import seed_alumni
from tests.test_web import Site, alumnus_link, database_full, pupil_lines, start_site
from tests.test_web_browser import CHROMIUM, OUTPUT, new_pupil, open_page, sign_in, wait_for_message

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: browser tests skipped"),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
PHONES = [(360, 740), (320, 640)]


@pytest.fixture
async def site(sqlite_only: Engine) -> AsyncIterator[Site]:
    s = await start_site(sqlite_only)
    yield s
    await s.server.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page, at every impact, as "rule (impact): first target"."""
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm install --no-save axe-core@4` in the project folder")
    # Run through the DevTools protocol, which the page's Content-Security-Policy does not govern:
    # the page under test keeps its real CSP (a script tag would need `bypass_csp`).
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    found = await page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}" for v in found]


async def screen(page: Any) -> dict[str, Any]:
    """Where things are on screen now, in CSS pixels."""
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => {
        const rect = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
        const items = document.querySelectorAll('#log .msg');
        const choices = [...document.querySelectorAll('#choices .choice')].map(rect);
        const active = document.activeElement;
        const style = getComputedStyle(active);
        return {
          height: window.innerHeight,
          composer: rect(document.getElementById('composer')),
          newest: rect(items[items.length - 1]),
          choices: choices,
          focused: active.value || active.id,
          focus: rect(active),
          outline: style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth),
          sideways: document.documentElement.scrollWidth > window.innerWidth,
        };
    }"""
    )


def assert_newest_on_screen(where: dict[str, Any]) -> None:
    """The newest message from its top, and every choice, above the message box."""
    composer_top = where["composer"]["top"]
    assert where["composer"]["bottom"] - composer_top <= 0.15 * where["height"], where
    assert 0 <= where["newest"]["top"] < composer_top, where
    assert where["choices"], where
    for choice in where["choices"]:
        assert choice["top"] >= 0 and choice["bottom"] <= composer_top, where
    assert not where["sideways"]


@pytest.mark.parametrize(("width", "height"), PHONES)
async def test_a_reflection_on_a_phone_keeps_the_question_its_choices_and_focus_on_screen(
    site: Site, browser: object, width: int, height: int
) -> None:
    page, problems = await open_page(browser, width=width, height=height)
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    assert await axe_violations(page) == []
    await sign_in(page, site, new_pupil(site))
    # A long conversation first, so the page has to scroll.
    replies = await page.locator("#log .msg-out").count()  # type: ignore[attr-defined]
    for _ in range(3):
        await page.get_by_label("Your message").fill("Hello there")  # type: ignore[attr-defined]
        await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
        await page.locator("#log .msg-in", has_text="Hello there").nth(_).wait_for()  # type: ignore[attr-defined]
    # Every answer in before a choice is focused: on a slow machine the last one's menu could replace
    # the buttons between the focus and the key press.
    # (A locator, not wait_for_function: when it has to poll, that evaluates its predicate with eval,
    # which the page's Content-Security-Policy rightly refuses.)
    await page.locator("#log .msg-out").nth(replies + 2).wait_for()  # type: ignore[attr-defined]
    keys = page.keyboard  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Reflect", exact=True).focus()  # type: ignore[attr-defined]
    await keys.press("Enter")
    await wait_for_message(page, "What did you do?")
    await page.get_by_label("Your message").fill("Helped run the Year 7 science club")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await wait_for_message(page, "Which skills did you use?")
    assert_newest_on_screen(await screen(page))

    # Keyboard: a new question's first choice... (typing kept focus in the box, so Tab to a skill)
    await page.locator("#choices .choice").nth(1).focus()  # type: ignore[attr-defined]
    second = page.locator("#choices .choice").nth(1)  # type: ignore[attr-defined]
    label, data = (await second.inner_text()).strip(), await second.get_attribute("value")
    await keys.press("Enter")
    await wait_for_message(page, f"Picked so far: {label}")
    where = await screen(page)
    assert_newest_on_screen(where)
    # ...the toggled choice keeps focus, on screen, above the box, with a clear ring.
    assert where["focused"] == data  # the same choice, now ticked
    assert where["focus"]["top"] >= 0 and where["focus"]["bottom"] <= where["composer"]["top"]
    assert where["outline"] >= 3
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"phone-chat-{width}.png"))  # type: ignore[attr-defined]

    # "Done" asks a new question: focus goes to its first choice (Skip), on screen.
    await page.get_by_role("button", name="Done", exact=True).focus()  # type: ignore[attr-defined]
    await keys.press("Enter")
    await wait_for_message(page, "What did you learn")
    where = await screen(page)
    assert_newest_on_screen(where)
    assert where["focused"] == await page.locator("#choices .choice").first.get_attribute("value")  # type: ignore[attr-defined]
    assert where["focus"]["bottom"] <= where["composer"]["top"] and where["outline"] >= 3
    assert await axe_violations(page) == []
    assert problems == []


async def test_sign_out_and_check_in_pages_have_no_axe_violations(site: Site, browser: object) -> None:
    _person, token = alumnus_link(site.engine, site.clock.now)
    page, problems = await open_page(browser, width=360, height=740)
    await page.goto(f"{site.base}/c/{token}")  # type: ignore[attr-defined]
    assert await axe_violations(page) == []
    await page.screenshot(path=str(OUTPUT / "phone-checkin-360.png"))  # type: ignore[attr-defined]
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, new_pupil(site))
    # Sign out asks first, says what it means, and "Stay signed in" goes back to the chat.
    await page.get_by_role("link", name="Sign out").click()  # type: ignore[attr-defined]
    await page.get_by_role("heading", name="Sign out of Waymark?").wait_for()  # type: ignore[attr-defined]
    assert "new code from your tutor" in await page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert await axe_violations(page) == []
    await page.get_by_role("link", name="Stay signed in").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Welcome to Waymark")
    await page.get_by_role("link", name="Sign out").click()  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Yes, sign out").click()  # type: ignore[attr-defined]
    await page.get_by_text("You're signed out").wait_for()  # type: ignore[attr-defined]
    assert problems == []


async def test_odd_input_keeps_what_was_typed_and_says_what_to_do(site: Site, browser: object) -> None:
    page, problems = await open_page(browser, width=320, height=640)
    await sign_in(page, site, new_pupil(site))
    box = page.get_by_label("Your message")  # type: ignore[attr-defined]
    status = page.locator("#status")  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    await status.filter(has_text="Type a message in the box first").wait_for()
    said_before = await page.locator("#log .msg-in").count()  # type: ignore[attr-defined]
    pasted = "Work experience at the vet's. " * 334  # 10,020 characters
    await box.fill(pasted)
    await status.filter(has_text="cut 6,020").wait_for()
    await box.press("Enter")
    await page.wait_for_timeout(300)  # type: ignore[attr-defined]
    assert await box.input_value() == pasted  # kept, not sent, not wiped
    assert await page.locator("#log .msg-in").count() == said_before  # type: ignore[attr-defined]
    # The box grew with the text but stays small enough to leave the conversation in view.
    height = await box.evaluate("e => e.getBoundingClientRect().height")
    assert 44 < height <= 0.25 * 640
    await box.fill("مرحبا، أريد أن أصبح طبيبة")
    await box.press("Enter")
    said = saved_on_page(page, "أريد أن أصبح")
    await said.wait_for()
    assert await said.get_attribute("dir") == "auto"
    assert await said.evaluate("e => getComputedStyle(e).direction") == "rtl"
    # Choice labels wrap between words, never inside one.
    await page.locator("#choices .choice").first.wait_for()  # type: ignore[attr-defined]
    widths = await page.eval_on_selector_all(  # type: ignore[attr-defined]
        ".choice", "els => els.map(e => [e.scrollWidth, e.clientWidth, e.textContent])"
    )
    assert widths and all(scroll <= client for scroll, client, _label in widths), widths
    assert problems == []


def saved_on_page(page: Any, text: str) -> Any:
    """The pupil's message as the server saved it (not the copy the page holds while sending)."""
    return page.locator("#log .msg-in:not(.msg-pending) .text", has_text=text)


async def test_a_message_the_server_could_not_save_comes_back_to_the_box(site: Site, browser: object) -> None:
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, new_pupil(site))
    box = page.get_by_label("Your message")  # type: ignore[attr-defined]
    with database_full(site.engine):
        await box.fill("I went to the careers fair")
        await box.press("Enter")
        await page.locator("#status", has_text="Couldn't save that").wait_for()  # type: ignore[attr-defined]
        status = await page.locator("#status").inner_text()  # type: ignore[attr-defined]
        assert texts.TRY_AGAIN in status
        assert await box.input_value() == "I went to the careers fair"
    await box.press("Enter")  # the disk has room again: the same text, sent again
    await saved_on_page(page, "I went to the careers fair").wait_for()
    assert pupil_lines(site.engine, "I went to the careers fair") == 1
    assert await box.input_value() == ""
    problems[:] = [p for p in problems if "WebSocket" not in p]
    assert problems == []


async def test_a_message_is_kept_once_when_the_connection_drops_around_it(site: Site, browser: object) -> None:
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, new_pupil(site))
    dropped: list[str] = []

    async def flaky(ws: Any) -> None:
        """The first message is lost on the way to the server; the second reaches it, but its
        receipt is lost on the way back. Each time the connection then dies."""
        server = ws.connect_to_server()
        closing: list[asyncio.Future[None]] = []

        def to_server(message: str | bytes) -> None:
            kind = len(dropped)
            if kind == 0:
                dropped.append("request")
                closing.append(asyncio.ensure_future(ws.close()))
                return
            server.send(message)

        def to_page(message: str | bytes) -> None:
            if json.loads(message).get("type") == "ack" and len(dropped) == 1:
                dropped.append("receipt")
                closing.append(asyncio.ensure_future(ws.close()))
                return
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)

    await page.route_web_socket("**/ws*", flaky)  # type: ignore[attr-defined]
    await page.reload()  # type: ignore[attr-defined]
    box = page.get_by_label("Your message")  # type: ignore[attr-defined]
    await box.fill("Tried the coding taster day")
    await box.press("Enter")
    await page.locator(".msg-pending").wait_for()  # type: ignore[attr-defined]  # kept on the page while unsaved
    await saved_on_page(page, "Tried the coding taster day").wait_for(timeout=15_000)
    await page.locator(".msg-pending").wait_for(state="detached")  # type: ignore[attr-defined]
    assert dropped == ["request", "receipt"]
    assert pupil_lines(site.engine, "Tried the coding taster day") == 1
    assert await page.locator("#log .msg-in", has_text="Tried the coding taster day").count() == 1  # type: ignore[attr-defined]
    problems[:] = [p for p in problems if "WebSocket" not in p]
    assert problems == []


async def test_a_message_sent_as_the_server_stops_arrives_once_after_it_restarts(site: Site, browser: object) -> None:
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, new_pupil(site))
    port = site.server.port
    box = page.get_by_label("Your message")  # type: ignore[attr-defined]
    await box.fill("Looked at sixth form courses")
    await box.press("Enter")
    await site.server.close()  # straight after the send: it may or may not have been handled
    app = build_app(site.settings, Dispatcher(site.engine, site.settings, clock=site.clock))
    app[WEB_CHAT].outbox_poll_seconds = 0.05
    site.server = TestServer(app, host="127.0.0.1", port=port)
    await site.server.start_server()
    await page.locator("#log .msg-in", has_text="Looked at sixth form courses").wait_for(timeout=15_000)  # type: ignore[attr-defined]
    await page.locator(".msg-pending").wait_for(state="detached", timeout=15_000)  # type: ignore[attr-defined]
    assert pupil_lines(site.engine, "Looked at sixth form courses") == 1
    assert await page.locator("#log .msg-in", has_text="Looked at sixth form courses").count() == 1  # type: ignore[attr-defined]
    problems[:] = [p for p in problems if "WebSocket" not in p and "ERR_CONNECTION_REFUSED" not in p]
    assert problems == []


async def test_a_chart_fills_a_phone_says_its_figures_and_opens_full_size(site: Site, browser: object) -> None:
    school = seed.school(site.engine, "Northfield Academy")
    assert school.id is not None
    seed_alumni(site.engine, school.id)
    leader = seed.staff(site.engine, school.id, "Lee", "Morgan", role=StaffRole.leader)
    page, problems = await open_page(browser, width=360, height=740)
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    await page.get_by_label("Your enrolment code").fill(seed.code_for(site.engine, leader))  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Welcome to Waymark")
    await page.get_by_label("Your message").fill("/report destinations 1 gender")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    chart = page.locator("#log img.media").last  # type: ignore[attr-defined]
    await chart.wait_for()
    for _ in range(100):  # polled from here: wait_for_function's eval is refused by the page's CSP
        if await chart.evaluate("i => i.complete && i.naturalWidth > 0"):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the chart did not load within 5 seconds")
    shown, natural = await chart.evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
    assert shown >= 300  # the whole width of the phone, less the margins
    assert MIN_FONT_PT * DPI / 72 * shown / natural >= 14  # its smallest text, in CSS pixels
    alt = await chart.get_attribute("alt")
    assert alt.startswith("Chart: Northfield Academy: Destinations of leavers of ") and " answered." in alt
    link = chart.locator("xpath=ancestor::a")
    assert await link.get_attribute("href") == await chart.get_attribute("src")
    assert await link.get_attribute("target") == "_blank"
    await chart.scroll_into_view_if_needed()
    await page.screenshot(path=str(OUTPUT / "phone-chart-360.png"))  # type: ignore[attr-defined]
    assert await axe_violations(page) == []
    assert problems == []


async def test_a_message_not_yet_saved_outlives_a_reload_of_the_page(site: Site, browser: object) -> None:
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, new_pupil(site))
    offline = [True]

    async def network(ws: Any) -> None:
        server = ws.connect_to_server()
        ws.on_message(lambda message: None if offline[0] else server.send(message))
        server.on_message(ws.send)

    await page.route_web_socket("**/ws*", network)  # type: ignore[attr-defined]
    await page.reload()  # type: ignore[attr-defined]
    await page.get_by_label("Your message").fill("Asked about the engineering taster")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await page.locator(".msg-pending").wait_for()  # type: ignore[attr-defined]
    await page.reload()  # type: ignore[attr-defined]  # before the server ever had it
    await page.locator(".msg-pending", has_text="Asked about the engineering taster").wait_for()  # type: ignore[attr-defined]
    offline[0] = False
    await page.reload()  # type: ignore[attr-defined]  # the network is back: the held message goes
    await saved_on_page(page, "Asked about the engineering taster").wait_for(timeout=15_000)
    await page.locator(".msg-pending").wait_for(state="detached")  # type: ignore[attr-defined]
    assert pupil_lines(site.engine, "Asked about the engineering taster") == 1
    problems[:] = [p for p in problems if "WebSocket" not in p]
    assert problems == []


async def test_discard_looks_unlike_save_sits_apart_from_it_and_asks_first(site: Site, browser: object) -> None:
    school = seed.school(site.engine, "Northfield Academy")
    assert school.id is not None
    tutor = seed.staff(site.engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    seed.pupil(site.engine, school.id, "Amira", "Khan", form="11A", tutor_id=tutor.id)
    page, problems = await open_page(browser, width=360, height=740)
    await sign_in(page, site, seed.code_for(site.engine, tutor))
    box = page.get_by_label("Your message")  # type: ignore[attr-defined]
    for typed in ("/log Amira", "Amira Khan (11A)", "Tutor check-in"):
        await box.fill(typed)
        await box.press("Enter")
        await page.wait_for_timeout(300)  # type: ignore[attr-defined]
    await box.fill("Talked about sixth form.\nAgreed: Visit the college open day by 12 Dec")
    await box.press("Enter")
    await wait_for_message(page, "staff only")
    await page.get_by_role("button", name="No staff note").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Check this before saving")
    looks = await page.evaluate(  # type: ignore[attr-defined]
        """() => Object.fromEntries([...document.querySelectorAll('#choices .choice')].map(b => {
            const r = b.getBoundingClientRect(), s = getComputedStyle(b);
            return [b.textContent, {left: r.left, right: r.right, top: r.top, bg: s.backgroundColor,
                                    colour: s.color, border: s.borderStyle}];
        }))"""
    )
    save, discard = looks["Save"], looks["Discard log\u2026"]
    assert save["bg"] != discard["bg"] and save["colour"] != discard["colour"] and discard["border"] == "dashed"
    # Not where a thumb aiming at Save lands: not below it in the same column.
    assert discard["left"] >= save["right"] or discard["top"] <= save["top"], looks
    await page.screenshot(path=str(OUTPUT / "phone-log-summary-360.png"))  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Discard log\u2026").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Discard this log?")
    focused = await page.evaluate("() => document.activeElement.textContent")  # type: ignore[attr-defined]
    assert focused == "Keep editing"  # Enter keeps the work
    assert await axe_violations(page) == []
    await page.keyboard.press("Enter")  # type: ignore[attr-defined]
    await page.locator("#log .msg-out .text", has_text="Check this before saving").nth(1).wait_for()  # type: ignore[attr-defined]
    assert problems == []
