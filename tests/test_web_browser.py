"""The web chat in a real headless Chromium (Debian's /usr/bin/chromium), driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage import outbox, seed
from storage.db import transaction
from tests.test_web import Site, record_media, start_site

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
    if not os.path.exists(CHROMIUM):  # every module that borrows this fixture skips the same way
        pytest.skip(f"{CHROMIUM} is missing: browser tests skipped")
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


async def open_page(
    browser: object, width: int = 390, height: int = 780, init_script: str = ""
) -> tuple[object, list[str]]:
    context = await browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    problems: list[str] = []
    # CSP violations and script errors show up here; a clean page has none.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


def new_pupil(site: Site, given: str = "Amira") -> str:
    return new_pupil_and_code(site, given)[1]


def new_pupil_and_code(site: Site, given: str = "Amira") -> tuple[int, str]:
    school = seed.school(site.engine, "Northfield Academy")
    person = seed.pupil(site.engine, school.id, given, "Khan")
    assert person.id is not None
    return person.id, seed.code_for(site.engine, person)


async def sign_in(page: object, site: Site, code: str) -> None:
    await page.goto(f"{site.base}/signin")  # type: ignore[attr-defined]
    await page.get_by_label("Your enrolment code").fill(code)  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    await wait_for_message(page, "Welcome to Waymark")


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


# A network that blocks WebSockets: every connection fails before it opens.
BLOCKED_WEBSOCKETS = """
window.WebSocket = function () {
  var socket = this;
  window.setTimeout(function () { if (socket.onclose) { socket.onclose({ code: 1006 }); } }, 20);
};
window.WebSocket.prototype.send = function () { throw new Error("never open"); };
"""


async def test_without_websockets_the_page_falls_back_to_plain_form_posts(site: Site, browser: object) -> None:
    code = new_pupil(site)
    page, problems = await open_page(browser, init_script=BLOCKED_WEBSOCKETS)
    await sign_in(page, site, code)
    status = page.locator("#status")  # type: ignore[attr-defined]
    await status.filter(has_text="You can still send messages").wait_for(timeout=10_000)
    await page.get_by_role("button", name="Reflect", exact=True).click()  # type: ignore[attr-defined]
    await wait_for_message(page, "What did you do?")  # the form posted, and the page came back with the answer
    # Typed straight after the reload, before the page has given up on the socket again: still sent.
    await page.get_by_label("Your message").fill("Helped at the book fair")  # type: ignore[attr-defined]
    await page.get_by_label("Your message").press("Enter")  # type: ignore[attr-defined]
    await wait_for_message(page, "Which skills did you use?")
    said = await page.locator("#log .msg-in .text").all_inner_texts()  # type: ignore[attr-defined]
    assert said.count("Helped at the book fair") == 1
    assert problems == []


# Lets a test put the tab in the background: headless Chromium always reports it visible.
BACKGROUND_TAB = """
Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: function () { return !!window.inBackground; } });
"""


async def test_live_messages_images_files_and_the_unread_count(site: Site, browser: object) -> None:
    person_id, code = new_pupil_and_code(site)
    page, problems = await open_page(browser, init_script=BACKGROUND_TAB)
    await sign_in(page, site, code)
    log = page.locator("#log")  # type: ignore[attr-defined]
    assert await log.get_attribute("role") == "log" and await log.get_attribute("aria-live") == "polite"
    title = await page.title()  # type: ignore[attr-defined]
    await page.evaluate("() => { window.inBackground = true; }")  # type: ignore[attr-defined]

    chart_id, plan_id = record_media(site.engine, person_id, site.clock.now)
    with transaction(site.engine) as s:
        outbox.notify_person(s, key="news:1", person_id=person_id, text="Careers fair on Friday", now=site.clock.now)
    await wait_for_message(page, "Careers fair on Friday")  # arrived without a reload
    assert await page.title() == f"(3) {title}"  # type: ignore[attr-defined]

    image = page.locator(f'#log img.media[src="/media/{chart_id}"]')  # type: ignore[attr-defined]
    assert await image.get_attribute("alt") == "skills.png"
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 1  # drawn, so allowed by the CSP
    link = page.locator(f'#log a.file[href="/media/{plan_id}"]')  # type: ignore[attr-defined]
    assert await link.inner_text() == "Download My plan (Y10).csv"
    box = await link.bounding_box()
    assert box is not None and box["height"] >= 44  # a large target, like the buttons
    async with page.expect_download() as download_info:  # type: ignore[attr-defined]
        await link.click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".csv")
    assert Path(await download.path()).read_bytes() == b"when,what\n"

    await page.evaluate(  # type: ignore[attr-defined]
        "() => { window.inBackground = false; document.dispatchEvent(new Event('visibilitychange')); }"
    )
    assert await page.title() == title  # type: ignore[attr-defined]
    assert problems == []


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize(("width", "height"), [(360, 740), (320, 640), (1280, 800)])
async def test_the_privacy_page_reads_at_every_size_and_passes_axe(
    site: Site, browser: object, width: int, height: int
) -> None:
    """The privacy notice (who reads what, how long, a copy, deletion) at phone and laptop sizes:
    no sideways scrolling, every section there, and axe-core finds no violation."""
    context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)  # type: ignore[attr-defined]
    page = await context.new_page()
    await page.goto(f"{site.base}/privacy")
    body = await page.inner_text("main")
    for words in ("until your 25th birthday", "1 year after your last message", "/export", "ask the school",
                  "For former pupils", "the school's careers team, to see how former pupils"):  # fmt: skip
        assert words in body
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"privacy-{width}.png"), full_page=True)
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing (npm install --no-save axe-core): axe check skipped")
    await page.add_script_tag(path=str(AXE))
    violations = await page.evaluate("async () => (await axe.run(document)).violations.map(v => v.id)")
    assert violations == []
    await context.close()
