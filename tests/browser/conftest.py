"""Browser tests: the real stack (Temporal dev server, worker, API as processes) and Debian's
Chromium driven by Playwright (never `playwright install`: nothing is downloaded).
Screenshots of each step are kept in tests/browser/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bench.console import CHROMIUM, CHROMIUM_ARGS
from hookline.infra.config import Settings
from tests.conftest import TenantCreds, make_tenant
from tests.support.stack import Stack

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (Debian package chromium, see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Stack]:
    stack = Stack(data_dir=tmp_path_factory.mktemp("console") / "hl")
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
async def second_tenant(console_stack: Stack) -> TenantCreds:
    settings = Settings(data_dir=console_stack.data_dir)
    return await make_tenant(settings, f"globex-{os.urandom(3).hex()}")


async def login_url(stack: Stack, headers: dict[str, str], **body: object) -> str:
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        answer = await api.post("/api/v1/console/sessions", headers=headers, json=body or None)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["url"]


async def sign_in(page, url: str) -> None:
    """Opens a sign-in link and confirms it (the link alone signs nobody in)."""
    await page.goto(url)
    await page.get_by_role("button", name=re.compile(r"^Sign in to ")).click()


class Shots:
    """`await shots(page, "created")` saves artifacts/<test>-01-created.png."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^\w-]+", "_", test_name)
        self.count = 0
        ARTIFACTS.mkdir(exist_ok=True)

    async def __call__(self, page, step: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
async def context(browser) -> AsyncIterator[object]:
    """A fresh browser profile (its own cookies) on a laptop-sized window."""
    created = await browser.new_context(viewport={"width": 1366, "height": 768})
    yield created
    await created.close()
