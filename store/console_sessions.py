"""Console sessions in the store (the app-portal model): a token with `webhooks:write` asks
for a single-use sign-in link; opening it trades the link for a session cookie. Both are
256-bit random strings kept only as SHA-256 hashes (`admin.hash_token`). A link and its
session live only as long as the token that asked for it: revoked, neither is accepted."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.core import ids
from hookline.store.admin import hash_token
from hookline.store.tables import ConsoleSession, Tenant, Token

LOGIN_LIFETIME = timedelta(minutes=15)
MIN_LOGIN_LIFETIME = timedelta(seconds=30)
MAX_LOGIN_LIFETIME = timedelta(hours=24)
# What the session grants: the console reads and changes only these (of the asking token's).
CONSOLE_SCOPES = (
    "webhooks:read",
    "webhooks:write",
    "events:read",
    "events:redeliver",
)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session_token: str) -> str:
    """The session's form token: derived from the cookie's secret (never stored), so a page of
    another site, which cannot read the cookie, cannot compute it."""
    return hmac.new(session_token.encode(), b"hookline console csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedLogin:
    session_id: str
    token: str  # goes into the sign-in URL; shown once, never stored
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    tenant_id: str
    token: str  # the session cookie's value; never stored
    expires_at: datetime


@dataclass(frozen=True)
class LoginOffer:
    """What a usable sign-in link would open (the confirmation page names it)."""

    tenant_id: str
    tenant_name: str


def _token_alive():
    """The row's token is not revoked (rows without one, from before tokens were noted, are
    not accepted)."""
    return ConsoleSession.token_id.in_(select(Token.id).where(Token.revoked_at.is_(None)))


@dataclass(frozen=True)
class ActiveSession:
    session_id: str
    tenant_id: str
    tenant_name: str
    scopes: frozenset[str]
    expires_at: datetime


async def issue_login(
    session: AsyncSession,
    tenant_id: str,
    token_scopes: frozenset[str] | list[str],
    lifetime: timedelta,
    now: datetime,
    *,
    token_id: str,
) -> IssuedLogin:
    """A sign-in link for the tenant, asked for by the token `token_id`; also forgets
    sessions that can no longer be used."""
    await session.execute(
        delete(ConsoleSession).where(
            or_(
                (ConsoleSession.used_at.is_(None)) & (ConsoleSession.login_expires_at < now),
                ConsoleSession.expires_at < now,
                ConsoleSession.ended_at.is_not(None),
            )
        )
    )
    token = new_secret()
    row = ConsoleSession(
        id=ids.new_id("cns"),
        tenant_id=tenant_id,
        token_id=token_id,
        scopes=[s for s in CONSOLE_SCOPES if s in token_scopes],
        login_hash=hash_token(token),
        login_expires_at=now + lifetime,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedLogin(session_id=row.id, token=token, expires_at=row.login_expires_at)


async def peek_login(session: AsyncSession, login_token: str, now: datetime) -> LoginOffer | None:
    """The tenant an unused, unexpired link of a live token signs in to; None otherwise.
    Uses nothing up: `consume_login` does, after the person confirmed."""
    row = (
        await session.execute(
            select(ConsoleSession.tenant_id, Tenant.name)
            .join(Tenant, Tenant.id == ConsoleSession.tenant_id)
            .where(
                ConsoleSession.login_hash == hash_token(login_token),
                ConsoleSession.used_at.is_(None),
                ConsoleSession.ended_at.is_(None),
                ConsoleSession.login_expires_at > now,
                _token_alive(),
            )
        )
    ).first()
    return None if row is None else LoginOffer(tenant_id=row.tenant_id, tenant_name=row.name)


async def consume_login(
    session: AsyncSession, login_token: str, lifetime: timedelta, now: datetime
) -> SignedIn | None:
    """Trades an unused, unexpired sign-in token for a session; None otherwise. One UPDATE
    guarded by `used_at IS NULL`, so of two concurrent uses only one wins."""
    digest = hash_token(login_token)
    session_token = new_secret()
    expires_at = now + lifetime
    result = await session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.login_hash == digest,
            ConsoleSession.used_at.is_(None),
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.login_expires_at > now,
            _token_alive(),
        )
        .values(used_at=now, session_hash=hash_token(session_token), expires_at=expires_at)
    )
    if result.rowcount != 1:
        return None
    row = (
        await session.execute(
            select(ConsoleSession.id, ConsoleSession.tenant_id).where(
                ConsoleSession.login_hash == digest
            )
        )
    ).one()
    return SignedIn(
        session_id=row.id, tenant_id=row.tenant_id, token=session_token, expires_at=expires_at
    )


async def find_session(
    session: AsyncSession, session_token: str, now: datetime
) -> ActiveSession | None:
    """The signed-in session of this cookie value, unless it expired, was ended or its token
    was revoked."""
    digest = hash_token(session_token)
    row = (
        await session.execute(
            select(
                ConsoleSession.id,
                ConsoleSession.tenant_id,
                ConsoleSession.scopes,
                ConsoleSession.session_hash,
                ConsoleSession.expires_at,
                Tenant.name,
            )
            .join(Tenant, Tenant.id == ConsoleSession.tenant_id)
            .where(
                ConsoleSession.session_hash == digest,
                ConsoleSession.ended_at.is_(None),
                ConsoleSession.expires_at > now,
                _token_alive(),
            )
        )
    ).first()
    if row is None or not hmac.compare_digest(row.session_hash, digest):
        return None
    return ActiveSession(
        session_id=row.id,
        tenant_id=row.tenant_id,
        tenant_name=row.name,
        scopes=frozenset(row.scopes),
        expires_at=row.expires_at,
    )


async def end_session(session: AsyncSession, session_id: str, now: datetime) -> None:
    await session.execute(
        update(ConsoleSession).where(ConsoleSession.id == session_id).values(ended_at=now)
    )
