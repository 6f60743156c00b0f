"""The console in Chromium, over the real stack: sign in through a session link, create a
webhook, watch an event succeed, redeliver a failed one, tenant isolation, CSRF, links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect
from sqlalchemy import create_engine, update

from hookline.store.tables import ConsoleSession
from tests.browser.conftest import login_url, sign_in
from tests.support.receiver import Reply

WEBHOOK_ID = re.compile(r"wh_[0-9a-z]{24}")
SETTLE = 60_000  # ms: Playwright polls (and the page refreshes itself) until then


async def publish(stack, event_type: str = "user.created", data: dict | None = None) -> str:
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        answer = await api.post(
            "/api/v1/events", headers=stack.headers, json={"type": event_type, "data": data or {}}
        )
    assert answer.status_code == 202, answer.text
    return answer.json()["data"]["id"]


async def test_create_a_webhook_watch_an_event_succeed_and_redeliver_a_failed_one(
    console_stack, receiver, context, shots
):
    stack = console_stack
    page = await context.new_page()
    await sign_in(page, await login_url(stack, stack.headers))
    assert page.url == f"{stack.base_url}/console"  # no token left in the address bar
    await expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    await page.keyboard.press("Tab")  # the keyboard starts at "Skip to content"
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    # Create a webhook with the form, found by its labels.
    await page.get_by_label("Endpoint URL").fill(receiver.url("/hook"))
    await page.get_by_label("Event types").fill("user.*")
    await page.get_by_label("Description").fill("CRM sync")
    await shots(page, "create-form")
    await page.get_by_role("button", name="Create webhook").click()
    secret = await page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    webhook_id = WEBHOOK_ID.search(await page.locator("dl.facts").inner_text()).group(0)
    await shots(page, "created-secret-once")
    await page.goto(f"{stack.base_url}/console/webhooks/{webhook_id}")
    assert secret not in await page.content()  # shown once

    # An event reaches `succeeded`: the event page refreshes itself until it settles.
    event_id = await publish(stack, data={"id": "usr_1", "email": "jane@example.com"})
    await page.goto(f"{stack.base_url}/console/events")
    await page.get_by_role("link", name=event_id).click()
    await expect(page.locator(".heading .badge")).to_have_text("succeeded", timeout=SETTLE)
    attempts = page.locator("table.attempts tbody tr")
    await expect(attempts).to_have_count(1)
    await expect(attempts.first).to_contain_text("HTTP 200")
    await expect(page.locator(".timeline li").first).to_contain_text("awaiting-executing")
    temporal = page.get_by_role("link", name=re.compile("Temporal UI"))
    assert await temporal.get_attribute("href") == (
        f"http://127.0.0.1:8233/namespaces/default/workflows/{event_id}"
    )
    await shots(page, "event-succeeded")

    # The endpoint answers 404: two attempts, then the delivery fails.
    receiver.script("/hook", [Reply(404, body="no such hook")])
    failed_id = await publish(stack, data={"id": "usr_2"})
    await page.goto(f"{stack.base_url}/console/events/{failed_id}")
    await expect(page.locator(".heading .badge")).to_have_text("failed", timeout=SETTLE)
    await expect(attempts).to_have_count(2)
    await expect(attempts.first).to_contain_text("no such hook")  # the response excerpt
    await shots(page, "event-failed")

    # It answers again; "Redeliver" signals the workflow; a manual attempt appears.
    receiver.script("/hook", [Reply(200)])
    await page.get_by_role("button", name=re.compile("^Redeliver to")).click()
    await expect(page.locator(".notice")).to_contain_text("1 delivery scheduled")
    manual = page.locator("table.attempts tbody tr", has_text="manual")
    await expect(manual).to_have_count(1, timeout=SETTLE)
    await expect(manual).to_contain_text("HTTP 200")
    await expect(page.locator(".heading .badge")).to_have_text("succeeded", timeout=SETTLE)
    await shots(page, "redelivered")

    # The list shows the webhook's last 24 hours.
    await page.goto(f"{stack.base_url}/console")
    row = page.locator("table.list tbody tr", has_text="CRM sync")
    await expect(row).to_contain_text("active")
    await expect(row.locator("svg.spark")).to_have_attribute("aria-label", re.compile(r"2xx.*4xx"))
    await shots(page, "webhooks")


async def test_a_second_tenant_sees_nothing_of_the_first(
    console_stack, receiver, browser, second_tenant, shots
):
    stack = console_stack
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        created = await api.post(
            "/api/v1/webhooks",
            headers=stack.headers,
            json={"url": receiver.url("/first"), "events": ["user.*"], "description": "first's"},
        )
    webhook = created.json()["data"]
    event_id = await publish(stack)

    first = await browser.new_context()
    second = await browser.new_context()
    try:
        mine = await first.new_page()
        await sign_in(mine, await login_url(stack, stack.headers))
        await expect(mine.get_by_role("link", name=webhook["url"])).to_be_visible()

        theirs = await second.new_page()
        await sign_in(theirs, await login_url(stack, second_tenant.headers))
        await expect(theirs.locator(".who")).to_contain_text("globex")
        await expect(theirs.locator(".empty")).to_contain_text("No webhooks yet")
        await theirs.goto(f"{stack.base_url}/console/events")
        await expect(theirs.locator(".empty")).to_contain_text("No events match")
        assert event_id not in await theirs.content()
        answer = await theirs.goto(f"{stack.base_url}/console/webhooks/{webhook['id']}")
        assert answer.status == 404
        await expect(theirs.get_by_role("heading", name="Not found")).to_be_visible()
        await shots(theirs, "foreign-webhook-404")
        answer = await theirs.goto(f"{stack.base_url}/console/events/{event_id}")
        assert answer.status == 404
    finally:
        await first.close()
        await second.close()


async def test_forms_need_the_sessions_csrf_token_and_same_site(
    console_stack, receiver, context, shots
):
    stack = console_stack
    page = await context.new_page()
    await sign_in(page, await login_url(stack, stack.headers))
    token = await page.locator('input[name="csrf"]').first.input_value()

    # The session's cookie, a wrong token: refused.
    refused = await context.request.post(
        f"{stack.base_url}/console/webhooks",
        form={"csrf": "0" * 64, "url": "https://example.com/x", "events": "*"},
    )
    assert refused.status == 403 and "security token" in await refused.text()

    # Another site's page (localhost is not the site 127.0.0.1) posts a form, even with the
    # right token: the SameSite=Strict cookie stays home, so the console sees nobody.
    receiver.script(
        "/evil",
        Reply(
            headers={"Content-Type": "text/html"},
            body=f'<form method="post" action="{stack.base_url}/console/webhooks">'
            f'<input type="hidden" name="csrf" value="{token}">'
            '<input type="hidden" name="url" value="https://evil.example.com/x">'
            '<input type="hidden" name="events" value="*"><button>Win a prize</button></form>',
        ),
    )
    await page.goto(f"http://localhost:{receiver.port}/evil")
    await page.get_by_role("button", name="Win a prize").click()
    await expect(page.get_by_role("heading", name="Not signed in")).to_be_visible()
    await shots(page, "cross-site-form")
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        listed = await api.get("/api/v1/webhooks", headers=stack.headers, params={"limit": 100})
    assert "https://evil.example.com/x" not in {w["url"] for w in listed.json()["data"]}


async def test_a_used_or_expired_link_does_not_sign_in(console_stack, browser, context, shots):
    stack = console_stack
    url = await login_url(stack, stack.headers)
    page = await context.new_page()
    await sign_in(page, url)
    await expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()

    other = await browser.new_context()
    try:
        stranger = await other.new_page()
        answer = await stranger.goto(url)  # the same link, used already
        assert answer.status == 401
        await expect(stranger.get_by_role("heading")).to_have_text(
            "This sign-in link cannot be used"
        )
        await shots(stranger, "used-link")

        expired = await login_url(stack, stack.headers, expires_in=60)
        engine = create_engine(f"sqlite:///{stack.data_dir / 'hookline.db'}")
        try:
            with engine.begin() as connection:
                connection.execute(
                    update(ConsoleSession)
                    .where(ConsoleSession.used_at.is_(None))
                    .values(login_expires_at=datetime.now(UTC) - timedelta(seconds=1))
                )
        finally:
            engine.dispose()
        answer = await stranger.goto(expired)
        assert answer.status == 401
        await stranger.goto(f"{stack.base_url}/console")
        await expect(stranger.get_by_role("heading", name="Not signed in")).to_be_visible()
    finally:
        await other.close()

    # Signing out ends the session at once.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    answer = await page.goto(f"{stack.base_url}/console")
    assert answer.status == 401
