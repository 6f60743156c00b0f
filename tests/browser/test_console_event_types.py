"""The console's event types in Chromium, over the real stack: each type with its schema and
example; a tenant adds one with the form (a schema that cannot compile is refused there);
publishes of it are then checked against the schema, and a webhook can subscribe to it."""

from __future__ import annotations

import json
import os

import httpx
from playwright.async_api import expect

from tests.browser.conftest import login_url, sign_in


async def test_show_and_add_an_event_type(console_stack, context, shots):
    stack = console_stack
    category = f"order{os.urandom(3).hex()}"  # the stack's tenant is shared by the session
    name = f"{category}.created"
    page = await context.new_page()
    await sign_in(page, await login_url(stack, stack.headers))
    await page.get_by_role("link", name="Event types").click()
    await expect(page.get_by_role("heading", name="Event types", exact=True)).to_be_visible()

    # A built-in type shows its example (the sample a test event sends).
    row = page.locator("#type-user\\.created")
    await row.locator("summary").click()
    await expect(row.get_by_label("Example of user.created")).to_contain_text("newuser@example.com")

    # A schema that cannot compile is refused, with where and why; the form keeps its values.
    await page.get_by_role("textbox", name="Name").fill(name)
    await page.get_by_role("textbox", name="Description").fill("An order was placed")
    await page.get_by_role("textbox", name="Schema").fill('{"type": "nope"}')
    await page.get_by_role("button", name="Add event type").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("invalid schema at /type")
    await expect(page.get_by_role("textbox", name="Name")).to_have_value(name)
    await shots(page, "schema-refused")

    schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    await page.get_by_role("textbox", name="Schema").fill(json.dumps(schema))
    await page.get_by_role("textbox", name="Example").fill('{"id": "ord_1"}')
    await page.get_by_role("button", name="Add event type").click()
    await expect(page.get_by_role("status")).to_have_text("Event type added.")
    added = page.locator(f"#type-{category}\\.created")
    await expect(added).to_contain_text("tenant")
    await added.locator("summary").click()
    await expect(added.get_by_label(f"Schema of {name}")).to_contain_text('"required"')
    await expect(added.get_by_label(f"Example of {name}")).to_contain_text("ord_1")
    await shots(page, "type-added")

    # Publishing it is checked against the schema; a webhook can subscribe to `category.*`.
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        bad = await api.post(
            "/api/v1/events", headers=stack.headers, json={"type": name, "data": {"id": 1}}
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["details"]["errors"][0]["pointer"] == "/data/id"
        good = await api.post(
            "/api/v1/events", headers=stack.headers, json={"type": name, "data": {"id": "o"}}
        )
        assert good.status_code == 202, good.text
    await page.goto(f"{stack.base_url}/console")
    await page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/hook")
    await page.get_by_label("Event types").fill(f"{category}.*")
    await page.get_by_role("button", name="Create webhook").click()
    await expect(page.get_by_label("Signing secret")).to_be_visible()
