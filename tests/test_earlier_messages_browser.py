"""Earlier messages in real headless Chromium: the chat's link pages back to older lines on a plain
page that reads at phone and laptop sizes and passes axe-core."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from storage import transcript
from storage.db import transaction
from storage.models import TranscriptLine, utcnow
from tests.test_web import Site
from tests.test_web_browser import AXE, OUTPUT, new_pupil, sign_in
from tests.test_web_browser import browser as browser
from tests.test_web_browser import pytestmark as pytestmark
from tests.test_web_browser import site as site


async def test_earlier_messages_read_at_every_size_and_pass_axe(site: Site, browser: object) -> None:
    code = new_pupil(site)
    # axe-core goes in as a script of the test's own, which the page's CSP would refuse.
    context = await browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)  # type: ignore[attr-defined]
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await sign_in(page, site, code)
    shown = site.settings.web_chat_page_lines
    with transaction(site.engine) as s:
        key = s.exec(select(TranscriptLine.identity_key).order_by(col(TranscriptLine.id).desc())).first()
        assert key is not None
        for n in range(shown + 30):
            transcript.record(s, key, None, "in", f"Older line {n:03d}: what I did at the careers fair", utcnow())
    await page.goto(f"{site.base}/chat")  # type: ignore[attr-defined]
    OUTPUT.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    await page.screenshot(path=str(OUTPUT / "earlier-messages-link-360.png"))  # type: ignore[attr-defined]
    await page.get_by_role("link", name="Earlier messages").click()  # type: ignore[attr-defined]
    await page.get_by_role("heading", name="Earlier messages").wait_for()  # type: ignore[attr-defined]
    body = await page.inner_text("main")  # type: ignore[attr-defined]
    assert "Older line 029" in body and "Older line 030" not in body
    assert "Back to the latest messages" in body
    for width, height in ((360, 740), (320, 640), (1280, 800)):
        await page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # type: ignore[attr-defined]
        await page.screenshot(path=str(OUTPUT / f"earlier-messages-{width}.png"))  # type: ignore[attr-defined]
    assert problems == []
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing (npm install --no-save axe-core): axe check skipped")
    await page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    violations = await page.evaluate("async () => (await axe.run(document)).violations.map(v => v.id)")  # type: ignore[attr-defined]
    assert violations == []
    await context.close()
