"""The console on a phone (390 x 844): no page is wider than the screen, a pending delivery
says when its next attempt is due, and the dark colour scheme applies when the system asks."""

from __future__ import annotations

import asyncio
import re

import httpx
from playwright.async_api import expect

from tests.browser.conftest import login_url, sign_in
from tests.support.receiver import Reply

PHONE = {"width": 390, "height": 844}
LIGHT_BACKGROUND = "rgb(245, 246, 248)"  # --bg of console.css
DARK_BACKGROUND = "rgb(15, 19, 27)"  # --bg under prefers-color-scheme: dark


async def overflow(page) -> dict:
    return await page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )


async def background(page) -> str:
    return await page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")


async def pending_event(stack, receiver) -> tuple[str, str]:
    """An event with one delivery that succeeded and one waiting an hour for its retry;
    (event id, the waiting webhook's id)."""
    receiver.script("/busy", Reply(503, body="busy, come back later"))
    webhook_ids = []
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        for path, description, policy in (
            ("/busy", "Billing sync (answers 503)", {"initial_interval": 3600}),
            ("/fine", "CRM sync for the sales team's very long pipeline name", None),
        ):
            created = await api.post(
                "/api/v1/webhooks",
                headers=stack.headers,
                json={
                    "url": receiver.url(path) + "?tenant=acme-corporation-international&v=2",
                    "events": [
                        "user.created",
                        "user.updated",
                        "user.deleted",
                        "user.login",
                        "sso.*",
                    ],
                    "description": description,
                    "retry_policy": policy,
                },
            )
            assert created.status_code == 201, created.text
            webhook_ids.append(created.json()["data"]["id"])
        answer = await api.post(
            "/api/v1/events",
            headers=stack.headers,
            json={"type": "user.created", "data": {"id": "usr_1", "email": "jane@example.com"}},
        )
        assert answer.status_code == 202, answer.text
        event_id = answer.json()["data"]["id"]
        for _ in range(300):  # attempt 1 answered 503: a retry is due in an hour
            detail = (await api.get(f"/api/v1/events/{event_id}", headers=stack.headers)).json()
            due = [d["next_attempt_at"] for d in detail["data"]["deliveries"]]
            if any(due):
                return event_id, webhook_ids[0]
            await asyncio.sleep(0.1)
    raise AssertionError(f"no retry was scheduled: {detail}")


async def test_the_console_fits_a_phone_and_follows_the_dark_scheme(
    console_stack, receiver, browser, shots
):
    stack = console_stack
    event_id, webhook_id = await pending_event(stack, receiver)
    pages = {
        "webhooks": "/console",
        "events": "/console/events",
        "webhook": f"/console/webhooks/{webhook_id}",
        "event": f"/console/events/{event_id}",
    }
    for scheme in ("light", "dark"):
        context = await browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme
        )
        try:
            page = await context.new_page()
            await sign_in(page, await login_url(stack, stack.headers))
            for name, path in pages.items():
                await page.goto(stack.base_url + path)
                await expect(page.locator("main h1")).to_be_visible()
                size = await overflow(page)
                assert size["inner"] == PHONE["width"]
                assert size["scroll"] <= size["inner"], (scheme, name, size)
                expected = DARK_BACKGROUND if scheme == "dark" else LIGHT_BACKGROUND
                assert await background(page) == expected
                await shots(page, f"{scheme}-{name}")

            # The retrying delivery says when its next attempt is due.
            busy = page.locator("article.delivery", has_text="/busy")
            await expect(busy.locator(".badge").first).to_have_text("pending")
            await expect(busy.locator(".next")).to_contain_text(
                re.compile(r"Next attempt in (59 min|60 min|1 h)")
            )
            fine = page.locator("article.delivery", has_text="/fine")
            await expect(fine.locator(".badge").first).to_have_text("succeeded")
            await expect(fine.locator(".next")).to_have_count(0)
            # The nav is one row of links that all fit, none cut off the screen.
            for link in await page.locator(".top nav a").all():
                box = await link.bounding_box()
                assert box is not None and box["x"] >= 0
                assert box["x"] + box["width"] <= PHONE["width"]
        finally:
            await context.close()
