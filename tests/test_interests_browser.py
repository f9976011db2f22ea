"""/interests sector buttons in the web chat, in real Chromium at phone and laptop sizes, with axe-core."""

from __future__ import annotations

import pytest

from tests.test_web import Site
from tests.test_web_browser import AXE, OUTPUT, browser, new_pupil, sign_in, site, wait_for_message

__all__ = ["browser", "site"]  # the fixtures, used by name

pytestmark = [pytest.mark.browser]


@pytest.mark.parametrize(("width", "height"), [(360, 740), (320, 640), (1280, 800)])
async def test_sector_buttons_fit_tick_and_pass_axe(site: Site, browser: object, width: int, height: int) -> None:
    code = new_pupil(site)
    context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)  # type: ignore[attr-defined]
    page = await context.new_page()
    await sign_in(page, site, code)
    await page.get_by_role("button", name="Interests", exact=True).click()
    await wait_for_message(page, "tap the sectors that interest you")
    await page.get_by_role("button", name="Construction & trades", exact=True).click()
    await wait_for_message(page, "Sectors you picked: Construction & trades")
    assert await page.get_by_role("button", name="✓ Construction & trades", exact=True).count() == 1
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    heights = await page.eval_on_selector_all(".choice", "els => els.map(e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44
    OUTPUT.mkdir(exist_ok=True)
    await page.locator("#choices").scroll_into_view_if_needed()
    await page.screenshot(path=str(OUTPUT / f"interests-sectors-{width}.png"), full_page=False)
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing (npm install --no-save axe-core): axe check skipped")
    await page.add_script_tag(path=str(AXE))
    # The chat page's own structure has findings of its own (the log's role, list items, the skip
    # link outside a landmark: the web chat's, reported to its owner); none may touch the buttons.
    found = await page.evaluate(
        "async () => (await axe.run(document)).violations.flatMap(v => v.nodes.map(n => v.id + ' ' + n.html))"
    )
    assert [v for v in found if 'class="choice' in v] == []
    await context.close()
