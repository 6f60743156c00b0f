"""FastAPI dependencies: the session, the authenticated tenant, scope checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from hookline.api.auth import Principal, authenticate, require_scope
from hookline.api.errors import ApiError
from hookline.api.services import webhooks
from hookline.core.catalog import Catalog
from hookline.delivery.transport import DeliveryTransport
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.store.engine import SessionMaker
from hookline.store.tables import Webhook
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


async def get_secrets(request: Request) -> SecretBox:
    """Seals and opens webhook secrets."""
    return request.app.state.deps.secrets


async def get_http(request: Request) -> DeliveryTransport:
    """The app's shared delivery client (closed by the app on shutdown): the test send's."""
    return request.app.state.deps.http


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionsDep = Annotated[SessionMaker, Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
StoreDep = Annotated[Store, Depends(get_store)]
SecretsDep = Annotated[SecretBox, Depends(get_secrets)]
HttpDep = Annotated[DeliveryTransport, Depends(get_http)]


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


def webhook_of(owner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Webhook]]:
    """A dependency: the path's `{webhook_id}` as a webhook of the tenant that `owner` (a
    dependency answering something with a `tenant_id`: the token's principal, the console's
    user) resolves to; 404 whether it is missing or someone else's. Declared after the scoped
    principal, a missing scope answers 403 first."""

    async def owned_webhook(
        webhook_id: str, session: SessionDep, who: Any = Depends(owner)
    ) -> Webhook:
        return await webhooks.owned(session, who.tenant_id, webhook_id)

    return owned_webhook


owned_webhook = webhook_of(get_principal)
OwnedWebhook = Annotated[Webhook, Depends(owned_webhook)]


def query_params(*names: str, prefix: str = "", paged: bool = True) -> Callable[[Request], None]:
    """A GET's query parameters: one it does not take (beside `page` and `limit` when
    `paged`, and names under `prefix`, checked by the route) is a 400 naming it, and so is one
    of its own given twice: a misspelt or repeated filter would answer what was not asked, as
    if it had matched."""
    known = ("page", "limit", *names) if paged else names
    takes = ", ".join(known) + (f" and {prefix}<key>" if prefix else "")

    def check(request: Request) -> None:
        seen: set[str] = set()
        for name, _ in request.query_params.multi_items():
            if prefix and name.startswith(prefix):
                continue
            if name not in known:
                raise _unknown_parameter(name, takes)
            if name in seen:
                raise ApiError(400, f"parameter {name!r} given twice", details={"twice": name})
            seen.add(name)

    setattr(check, _CHECKS_ITS_QUERY, True)
    return check


def _unknown_parameter(name: str, takes: str) -> ApiError:
    said = f"the parameters are {takes}" if takes else "this endpoint takes no query parameter"
    return ApiError(
        400, f"unknown parameter {name[:100]!r}: {said}", details={"unknown": [name[:100]]}
    )


_CHECKS_ITS_QUERY = "_hookline_checks_its_query"
_QUERY_NAMES = "_hookline_query_names"  # on the route: read once


def _query_names(dependant: Dependant) -> tuple[str, ...] | None:
    """The query parameters a route declares, its dependencies' included; None when one of
    them is a `query_params` check (the route's list then, with its prefix)."""
    names = [field.alias for field in dependant.query_params]
    for sub in dependant.dependencies:
        if getattr(sub.call, _CHECKS_ITS_QUERY, False):
            return None
        inner = _query_names(sub)
        if inner is None:
            return None
        names += inner
    return tuple(dict.fromkeys(names))


async def only_known_query_params(request: Request) -> None:
    """An app-wide dependency: a query parameter the route does not declare is a 400 naming
    it. A write would otherwise ignore it: `POST /events/redeliver?webhook_id=…` redelivered
    every failed delivery of the tenant, the filter unread. Under /api only: console pages
    read their own, and a scrape of /metrics may carry a scraper's parameters."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.url.path.startswith("/api/"):
        return
    if not hasattr(route, _QUERY_NAMES):
        setattr(route, _QUERY_NAMES, _query_names(route.dependant))
    known = getattr(route, _QUERY_NAMES)
    if known is None:
        return
    for name in request.query_params:
        if name not in known:
            raise _unknown_parameter(name, ", ".join(known))
