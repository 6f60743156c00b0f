"""FastAPI dependencies: the session, the authenticated tenant, scope checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from hookline.api.auth import Principal, authenticate, require_scope
from hookline.core.catalog import Catalog
from hookline.infra.config import Settings
from hookline.store.engine import SessionMaker
from hookline.store.transactions import Store


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def` one in
# a thread pool, a thread hop per request for a getattr.
async def get_sessions(request: Request) -> SessionMaker:
    """For routes that need a session only sometimes (publishing, for an idempotent replay)."""
    return request.app.state.sessions


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_store(request: Request) -> Store:
    """The hot-path store (publishing records the event row through it)."""
    return request.app.state.deps.store


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionsDep = Annotated[SessionMaker, Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
StoreDep = Annotated[Store, Depends(get_store)]


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = await authenticate(request.app.state.deps.store, authorization)
    request.app.state.rate_limiter.check(principal.token_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scope(name: str) -> Callable[..., Principal]:
    """`TenantDep = Annotated[Principal, Depends(scope("webhooks:read"))]`."""

    async def dependency(principal: PrincipalDep) -> Principal:
        require_scope(principal, name)
        return principal

    dependency.__name__ = f"scope_{name.replace(':', '_')}"
    return dependency


WebhooksRead = Annotated[Principal, Depends(scope("webhooks:read"))]
WebhooksWrite = Annotated[Principal, Depends(scope("webhooks:write"))]
EventsPublish = Annotated[Principal, Depends(scope("events:publish"))]
EventsRead = Annotated[Principal, Depends(scope("events:read"))]
EventsRedeliver = Annotated[Principal, Depends(scope("events:redeliver"))]
