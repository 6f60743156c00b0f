"""The console in Chromium, over the real stack: start a replay from a webhook's page and
watch the job's page until it has re-POSTed every event since the chosen time."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from tests.browser.conftest import login_url, sign_in
from tests.browser.test_console import SETTLE, publish


async def test_replay_a_webhook_since_a_time_and_watch_the_job(
    console_stack, receiver, context, second_tenant, shots
):
    stack = console_stack
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        created = await api.post(
            "/api/v1/webhooks",
            headers=stack.headers,
            json={"url": receiver.url("/replayed"), "events": ["user.*"]},
        )
    webhook = created.json()["data"]
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = [await publish(stack, data={"i": i}) for i in range(3)]
    await receiver.wait_for(3, path="/replayed", timeout=30)

    page = await context.new_page()
    await sign_in(page, await login_url(stack, stack.headers))
    await page.goto(f"{stack.base_url}/console/webhooks/{webhook['id']}")
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    await page.get_by_label("Replay events since (UTC)").fill(since.strftime("%Y-%m-%dT%H:%M:%S"))
    await shots(page, "replay-form")
    await page.get_by_role("button", name="Replay").click()

    # The job's page, refreshing itself until the job has ended.
    await expect(page.get_by_role("heading", name="Replay")).to_be_visible()
    assert "/console/jobs/job_" in page.url
    await expect(page.locator("#job-status")).to_have_text("completed", timeout=SETTLE)
    await expect(page.locator("#job-processed")).to_have_text("3 / 3")
    await expect(page.locator("#job-scheduled")).to_have_text("3")
    await shots(page, "replay-completed")

    # A cancel sent from a page loaded while the job ran (it has ended since): back to the
    # job's page, still completed, not an error page.
    cancel = await page.request.post(
        f"{page.url}/cancel", form={"csrf": csrf or ""}, max_redirects=0
    )
    assert cancel.status == 303 and cancel.headers["location"] == page.url.removeprefix(
        stack.base_url
    )
    await page.reload()
    await expect(page.locator("#job-status")).to_have_text("completed")

    await receiver.wait_for(6, path="/replayed", timeout=30)
    await asyncio.sleep(0.5)
    got = Counter(r.headers.get("webhook-id") for r in receiver.for_path("/replayed"))
    assert got == Counter(dict.fromkeys(ids, 2))

    # Another tenant's session: the job is not found.
    other = await context.browser.new_context()
    try:
        theirs = await other.new_page()
        await sign_in(theirs, await login_url(stack, second_tenant.headers))
        answer = await theirs.goto(page.url)
        assert answer.status == 404
    finally:
        await other.close()
