"""Webhooks: the tenant's webhook or 404, list, create, update, delete, rotate the secret
(test sends and filter tests: api/services/trials.py). Custom headers are sealed per value
and masked on read; metadata is the tenant's own labels, filterable in the list."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from hookline.api.errors import ApiError, not_found
from hookline.api.schemas.common import Page, Pagination
from hookline.api.schemas.webhooks import (
    MASKED_HEADER,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    Circuit,
    RetryPolicy,
    RotatedSecret,
    RotateRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookDetail,
    WebhookOut,
    WebhookUpdate,
)
from hookline.api.services import event_type_checks
from hookline.core import filters, ids, retry, signing, urls
from hookline.core.catalog import Catalog
from hookline.core.headers import HeaderRefused, check_headers
from hookline.delivery.resolver import check_resolved_host
from hookline.infra.config import Settings
from hookline.infra.crypto import SecretBox
from hookline.store.admission import breaker_reset
from hookline.store.tables import Webhook

NEWEST_FIRST = (Webhook.created_at.desc(), Webhook.id.desc())
METADATA_KEY = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_METADATA_KEY}}}")


async def owned(session: AsyncSession, tenant_id: str, webhook_id: str) -> Webhook:
    """The tenant's webhook, or 404 whether it is missing or someone else's. An expired row
    (after a rollback) is read again."""
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.tenant_id != tenant_id:
        raise not_found("webhook", webhook_id)
    return webhook


# --------------------------------------------------------------------------- checks


async def check_url(url: str, settings: Settings) -> str:
    """The URL rules of a delivery, DNS included: a name that resolves to a forbidden
    address (or does not resolve) is refused now, not at its first delivery. With private
    URLs allowed (local development) the address rules are lifted, so is the lookup."""
    allow_private = settings.allow_private_urls
    try:
        urls.validate_webhook_url(url, allow_private=allow_private)
        if not allow_private:
            await check_resolved_host(url, allow_private=False)
        return url
    except urls.UrlError as exc:
        raise ApiError(
            422,
            f"invalid webhook URL: {exc}",
            details={"field": "url", "reason": str(exc)},
            code="invalid_url",
        ) from exc


def check_filter(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if not spec:
        return None
    try:
        filters.validate_filter(spec)
    except filters.FilterError as exc:
        raise ApiError(
            422,
            f"invalid filter: {exc}",
            details={"field": "filter", "path": exc.path, "reason": exc.message},
            code="invalid_filter",
        ) from exc
    return spec


def sealed_headers(
    secrets: SecretBox, given: dict[str, str] | None, current: dict[str, str] | None = None
) -> dict[str, str] | None:
    """The headers to store, each value sealed, or a 422 naming the header refused. A value
    given as the mask keeps the value `current` (stored, sealed) has for that name."""
    if not given:
        return None
    kept = {name.lower(): value for name, value in (current or {}).items()}
    try:
        check_headers({n: ("x" if v == MASKED_HEADER else v) for n, v in given.items()})
        for name, value in given.items():
            if value == MASKED_HEADER and name.lower() not in kept:
                raise HeaderRefused(name, "the mask keeps a value, and this header has none")
    except HeaderRefused as exc:
        raise ApiError(
            422,
            f"invalid headers: {exc}",
            details={"field": "headers", "name": exc.name, "reason": exc.reason},
            code="invalid_headers",
        ) from None
    return {
        name: kept[name.lower()] if value == MASKED_HEADER else secrets.seal(value)
        for name, value in given.items()
    }


# --------------------------------------------------------------------------- reads

_COMPUTED = ("headers", "metadata", "circuit")


def fields(webhook: Webhook) -> dict[str, Any]:
    """The row's fields that `WebhookOut` (and its subclasses) show, header values masked."""
    values = {
        name: getattr(webhook, name) for name in WebhookOut.model_fields if name not in _COMPUTED
    }
    values["headers"] = {name: MASKED_HEADER for name in webhook.headers or {}}
    values["metadata"] = dict(webhook.metadata_ or {})
    values["circuit"] = Circuit(
        state=webhook.breaker_state or "closed",
        until=webhook.breaker_until,
        history=webhook.breaker_history or [],
    )
    return values


def out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(**fields(webhook))


def detail(webhook: Webhook) -> WebhookDetail:
    """One webhook as `GET /webhooks/{id}` shows it (the secret masked)."""
    return WebhookDetail(**fields(webhook))


def metadata_query(params: list[tuple[str, str]]) -> dict[str, str]:
    """`metadata[key]=value` query parameters as {key: value}; a malformed one is a 400."""
    found: dict[str, str] = {}
    for name, value in params:
        if not name.startswith("metadata"):
            continue
        key = name[len("metadata[") : -1] if name.startswith("metadata[") else ""
        if name.endswith("]") and len(key) > MAX_METADATA_KEY:
            raise ApiError(
                400,
                f"invalid parameters: a metadata key has at most {MAX_METADATA_KEY} characters",
                details={"parameter": name[:100]},
            )
        if not name.endswith("]") or not METADATA_KEY.fullmatch(key) or key in found:
            raise ApiError(
                400,
                "invalid parameters: filter metadata as ?metadata[key]=value, each key once",
                details={"parameter": name[:100]},
            )
        found[key] = value
    if len(found) > MAX_METADATA_KEYS:
        raise ApiError(400, f"at most {MAX_METADATA_KEYS} metadata filters")
    return found


async def list_webhooks(
    session: AsyncSession,
    catalog: Catalog,
    tenant_id: str,
    pagination: Pagination,
    status: str | None = None,
    event: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Page[WebhookOut]:
    """Newest first; `event`: only those subscribed to that event type (wildcards match);
    `metadata`: only those with every one of these key-value pairs."""
    where = [Webhook.tenant_id == tenant_id]
    if status is not None:
        where.append(Webhook.status == status)
    for key, value in (metadata or {}).items():
        where.append(Webhook.metadata_[key].as_string() == value)
    if event is None:
        total = await session.scalar(select(func.count()).select_from(Webhook).where(*where))
        rows = await session.scalars(
            select(Webhook)
            .where(*where)
            .order_by(*NEWEST_FIRST)
            .offset(pagination.offset)
            .limit(pagination.limit)
        )
        return Page(data=[fields(w) for w in rows], meta=pagination.meta(total or 0))
    await event_type_checks.check_patterns(
        session, catalog, tenant_id, [event], allow_archived=True
    )
    # Subscriptions are JSON lists with wildcards: match them here, over ids and patterns only.
    candidates = await session.execute(
        select(Webhook.id, Webhook.events).where(*where).order_by(*NEWEST_FIRST)
    )
    matching = [wid for wid, patterns in candidates if filters.type_matches(patterns, event)]
    page_ids = matching[pagination.offset : pagination.offset + pagination.limit]
    rows = await session.scalars(
        select(Webhook).where(Webhook.id.in_(page_ids)).order_by(*NEWEST_FIRST)
    )
    return Page(data=[fields(w) for w in rows], meta=pagination.meta(len(matching)))


# --------------------------------------------------------------------------- changes


def check_retries_fit(settings: Settings, policy: RetryPolicy | None) -> None:
    """A webhook's own retry policy ends within an event's retention: past it, the event's
    workflow closes and the last attempts are never made, with nothing said."""
    if policy is None:
        return
    spec = retry.webhook_spec(settings.retry_spec(), policy.stored())
    span, kept = retry.schedule_span(spec), settings.event_retention.total_seconds()
    if span > kept:
        raise ApiError(
            422,
            f"this retry_policy's attempts can take up to {_span(span)}, past the "
            f"{_span(kept)} an event is kept: its last attempts would never be made; "
            "lower max_attempts, initial_interval, backoff or max_interval",
            details={"field": "retry_policy", "seconds": round(span), "retention": round(kept)},
        )


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


async def create_webhook(
    session: AsyncSession,
    secrets: SecretBox,
    settings: Settings,
    catalog: Catalog,
    tenant_id: str,
    body: WebhookCreate,
) -> WebhookCreated:
    """A new active webhook; the answer carries its signing secret in full, this once."""
    check_retries_fit(settings, body.retry_policy)
    await event_type_checks.check_patterns(session, catalog, tenant_id, body.events)
    url = await check_url(body.url, settings)
    spec = check_filter(body.filter)
    headers = sealed_headers(secrets, body.headers)
    secret = signing.new_secret()
    now = datetime.now(UTC)
    webhook = Webhook(
        id=ids.webhook_id(),
        tenant_id=tenant_id,
        url=url,
        events=body.events,
        description=body.description,
        filter=spec,
        retry_policy=body.retry_policy.stored() if body.retry_policy else None,
        status="active",
        secret=secrets.seal(secret),
        headers=headers,
        metadata_=body.metadata or None,
        max_in_flight=body.max_in_flight,
        rate_limit=body.rate_limit,
        ordering=body.ordering,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.commit()
    return WebhookCreated(**fields(webhook), secret=secret)


async def update_webhook(
    session: AsyncSession,
    settings: Settings,
    catalog: Catalog,
    webhook: Webhook,
    body: WebhookUpdate,
    secrets: SecretBox | None = None,
) -> WebhookOut:
    """Only the fields given change; everything is checked before anything changes. Patterns
    the webhook already has are kept as they are (a type archived since does not block an
    edit). `secrets` seals new header values (needed when `headers` is given). Written over
    the version read: a change written meanwhile is read again and this one applied on top,
    whole, so concurrent PUTs never leave a mix that no request sent."""
    given = body.model_fields_set
    check_retries_fit(settings, body.retry_policy)
    if body.events is not None:
        await event_type_checks.check_patterns(
            session, catalog, webhook.tenant_id, body.events, kept=webhook.events
        )
    url = await check_url(body.url, settings) if body.url is not None else None
    spec = check_filter(body.filter)
    if "headers" in given and body.headers and secrets is None:
        raise ValueError("sealing headers needs the secret box")

    async def apply(webhook: Webhook) -> None:
        if "headers" in given:
            webhook.headers = sealed_headers(secrets, body.headers, webhook.headers)  # type: ignore[arg-type]
        if url is not None and url != webhook.url:
            breaker_reset(webhook, datetime.now(UTC), "the URL changed")
            webhook.url = url
        if body.events is not None:
            webhook.events = body.events
        if "description" in given:
            webhook.description = body.description
        if "filter" in given:
            webhook.filter = spec
        if "retry_policy" in given:
            webhook.retry_policy = body.retry_policy.stored() if body.retry_policy else None
        if "metadata" in given:
            webhook.metadata_ = body.metadata or None
        if "max_in_flight" in given:
            webhook.max_in_flight = body.max_in_flight
        if "rate_limit" in given:
            webhook.rate_limit = body.rate_limit
        if body.ordering is not None:
            webhook.ordering = body.ordering
        if body.status is not None and body.status != webhook.status:
            webhook.status = body.status
            if body.status == "active":
                webhook.status_reason = None
                webhook.failing_since = None
            else:
                webhook.status_reason = "deactivated through the API"
        if session.is_modified(webhook):  # a PUT that changes nothing leaves it as it was
            webhook.updated_at = datetime.now(UTC)

    return out(await _written(session, webhook, apply))


# Tries of a change whose row another request changed meanwhile, each on top of the last.
CHANGE_TRIES = 8


async def _written(
    session: AsyncSession, webhook: Webhook, change: Callable[[Webhook], Awaitable[None]]
) -> Webhook:
    """`change` (an edit, or the delete), committed over the version of the row read (the
    mapper's version column); on a conflict, the row read again and `change` made on top of
    it. Deleted meanwhile: 404."""
    webhook_id, tenant_id = webhook.id, webhook.tenant_id
    for _ in range(CHANGE_TRIES):
        await change(webhook)
        try:
            await session.commit()
            return webhook
        except StaleDataError:
            await session.rollback()
            webhook = await owned(session, tenant_id, webhook_id)
    raise ApiError(
        409, f"webhook {webhook_id} was changed by other requests meanwhile; send this one again"
    )


async def delete_webhook(session: AsyncSession, webhook: Webhook) -> None:
    """Its deliveries keep their history until their events expire. Deleted by another
    request meanwhile: 404; changed meanwhile: deleted as it is now."""
    await _written(session, webhook, session.delete)


async def rotate_secret(
    session: AsyncSession,
    secrets: SecretBox,
    settings: Settings,
    webhook: Webhook,
    body: RotateRequest | None = None,
) -> RotatedSecret:
    """A new signing secret; the old one keeps signing alongside for the grace period."""
    grace = (
        timedelta(seconds=body.grace_period)
        if body is not None and body.grace_period is not None
        else settings.secret_rotation_grace
    )
    now = datetime.now(UTC)
    secret = signing.new_secret()
    sealed = secrets.seal(secret)

    async def rotate(webhook: Webhook) -> None:
        # On top of a rotation written meanwhile: its secret becomes the previous one here,
        # and still signs for the grace period.
        if grace > timedelta(0):
            webhook.previous_secret = webhook.secret
            webhook.previous_secret_expires_at = now + grace
        else:
            webhook.previous_secret = webhook.previous_secret_expires_at = None
        webhook.secret = sealed
        webhook.updated_at = now

    webhook = await _written(session, webhook, rotate)
    return RotatedSecret(
        id=webhook.id,
        secret=secret,
        previous_secret_expires_at=webhook.previous_secret_expires_at,
    )
