"""The web chat in a real headless Chromium (Debian's /usr/bin/chromium), driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests import factories
from tests.test_web import Site, start_site

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).resolve().parent.parent / "test-output"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: browser tests skipped"),
]

playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")


@pytest.fixture
async def site(sqlite_only: Engine) -> AsyncIterator[Site]:
    s = await start_site(sqlite_only)
    yield s
    await s.server.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        await chromium.close()


async def open_page(browser: object, width: int = 390, height: int = 780) -> tuple[object, list[str]]:
    context = await browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    page = await context.new_page()
    problems: list[str] = []
    # CSP violations and script errors show up here; a clean page has none.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


def new_pupil(site: Site, given: str = "Amira") -> str:
    school = factories.school(site.engine, "Northfield Academy")
    person = factories.pupil(site.engine, school.id, given, "Khan")
    return factories.code_for(site.engine, person)


async def wait_for_message(page: object, text: str) -> None:
    await page.locator("#log .msg-out .text", has_text=text).last.wait_for(timeout=10_000)  # type: ignore[attr-defined]


async def test_a_pupil_reflects_and_reads_it_in_their_record(site: Site, browser: object) -> None:
    code = new_pupil(site)
    page, problems = await open_page(browser)
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    await page.get_by_label("Your enrolment code").fill(code)  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Welcome to Waymark, Amira")
    assert await page.locator(".school").inner_text() == "Northfield Academy"  # type: ignore[attr-defined]

    await page.get_by_role("button", name="Reflect", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "What did you do?")
    await page.get_by_label("Your message").fill("Helped run the Year 7 science club")  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Which skills did you use?")
    await page.get_by_role("button", name="Teamwork", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Picked so far: Teamwork")
    await page.get_by_role("button", name="Leadership", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Picked so far: Teamwork, Leadership")
    await page.get_by_role("button", name="Done", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "What did you learn")
    await page.get_by_label("Your message").fill("I can explain <experiments> & keep kids calm")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await wait_for_message(page, "Saved to your journal")
    await page.get_by_role("button", name="My record", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Your record")
    record = await page.locator("#log .msg-out .text").last.inner_text()  # type: ignore[attr-defined]
    assert "Helped run the Year 7 science club" in record and "Teamwork" in record
    # The pressed buttons show as what the pupil chose, and markup stayed text.
    said = await page.locator("#log .msg-in .text").all_inner_texts()  # type: ignore[attr-defined]
    assert "Teamwork" in said and "I can explain <experiments> & keep kids calm" in said
    assert await page.locator("#log img").count() == 0  # type: ignore[attr-defined]

    # A reload shows the same conversation, rebuilt from the transcript.
    await page.reload()  # type: ignore[attr-defined]
    assert "Saved to your journal" in await page.locator("#log").inner_text()  # type: ignore[attr-defined]
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "web-chat.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []


async def press_tab_until(page: object, wanted: str, limit: int = 40) -> None:
    """Keyboard only: Tab until the focused control has this name (its text, label or id)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")  # type: ignore[attr-defined]
        name = await page.evaluate(  # type: ignore[attr-defined]
            "() => { const e = document.activeElement; return e ? (e.id || e.textContent || '').trim() : '' }"
        )
        if name == wanted:
            return
    raise AssertionError(f"Tab never reached {wanted!r}")


async def test_the_same_journey_with_the_keyboard_alone(site: Site, browser: object) -> None:
    code = new_pupil(site)
    page, problems = await open_page(browser)
    keys = page.keyboard  # type: ignore[attr-defined]
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    await press_tab_until(page, "code")
    await keys.type(code)
    await keys.press("Enter")
    await wait_for_message(page, "Welcome to Waymark, Amira")

    await press_tab_until(page, "Reflect")
    await keys.press("Enter")
    await wait_for_message(page, "What did you do?")
    await press_tab_until(page, "message")
    await keys.type("Showed visitors round on open evening")
    await keys.press("Enter")
    await wait_for_message(page, "Which skills did you use?")
    await press_tab_until(page, "Speaking")
    await keys.press("Enter")
    await wait_for_message(page, "Picked so far: Speaking")
    # Focus moved to the new choices after the press; Tab on to Done.
    await press_tab_until(page, "Done")
    await keys.press("Enter")
    await wait_for_message(page, "What did you learn")
    await press_tab_until(page, "Skip")
    await keys.press("Enter")
    await wait_for_message(page, "Saved to your journal")
    await press_tab_until(page, "My record")
    await keys.press("Enter")
    await wait_for_message(page, "Your record")
    record = await page.locator("#log .msg-out .text").last.inner_text()  # type: ignore[attr-defined]
    assert "Showed visitors round on open evening" in record and "Speaking" in record
    assert problems == []


async def test_nothing_scrolls_sideways_at_320_pixels(site: Site, browser: object) -> None:
    code = new_pupil(site)
    page, problems = await open_page(browser, width=320, height=640)
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    wide = "() => document.documentElement.scrollWidth"
    assert await page.evaluate(wide) <= 320  # type: ignore[attr-defined]
    await page.get_by_label("Your enrolment code").fill(code)  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Welcome to Waymark")
    await page.get_by_label("Your message").fill("Supercalifragilistic" * 30 + " https://example.org/" + "x" * 200)  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await wait_for_message(page, "What would you like to do?")
    await page.get_by_role("button", name="Reflect", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "What did you do?")
    await page.get_by_label("Your message").fill("Went to the careers fair")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await wait_for_message(page, "Which skills did you use?")
    assert await page.evaluate(wide) <= 320  # type: ignore[attr-defined]
    # Every choice is a large target (at least 44 CSS pixels high).
    heights = await page.eval_on_selector_all(".choice", "els => els.map(e => e.getBoundingClientRect().height)")  # type: ignore[attr-defined]
    assert heights and min(heights) >= 44
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "web-chat-320.png"), full_page=True)  # type: ignore[attr-defined]
    assert problems == []
