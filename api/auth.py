"""Bearer tokens: one tenant each, hashed at rest, scoped, rate limited per token."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from hookline.api.errors import ApiError
from hookline.core.rate_limit import TokenBuckets, parse_rate
from hookline.store.admin import hash_token
from hookline.store.tables import Token
from hookline.store.transactions import Store

_TOKENS = Token.__table__
_BY_HASH = select(_TOKENS).where(_TOKENS.c.token_hash == bindparam("digest"))  # every request
_USED = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now", type_=_TOKENS.c.last_used_at.type))
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hookline"'}
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    token_id: str
    scopes: frozenset[str]


class RateLimiter:
    """A token bucket per token (`core/rate_limit.py`), e.g. "6000/minute": bursts of up to
    6000 requests, refilled at 100 per second."""

    def __init__(self, rate: str) -> None:
        self.buckets = TokenBuckets(parse_rate(rate))

    def check(self, key: str) -> None:
        wait = self.buckets.hit(key)
        if wait:
            raise ApiError(
                429,
                f"rate limit of {self.buckets.rate} exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=CHALLENGE)


def find_token(connection: Connection, digest: str, now: datetime) -> Row[Any] | None:
    """The token with this hash; notes its use (at most once per LAST_USED_RESOLUTION)."""
    token = connection.execute(_BY_HASH, {"digest": digest}).first()
    if token is not None and token.revoked_at is None:
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            connection.execute(_USED, {"token_id": token.id, "now": now})
    return token


async def authenticate(store: Store, authorization: str | None) -> Principal:
    if not authorization:
        raise _unauthorized("missing Authorization: Bearer <token> header")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    digest = hash_token(value)
    token = await store.transaction(find_token, digest, datetime.now(UTC))
    # The lookup is by hash; compare again in constant time so no code path leaks timing.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise _unauthorized("invalid token")
    if token.revoked_at is not None:
        raise _unauthorized("token revoked")
    return Principal(tenant_id=token.tenant_id, token_id=token.id, scopes=frozenset(token.scopes))


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise ApiError(403, f"token lacks the scope {scope}", details={"required": scope})
