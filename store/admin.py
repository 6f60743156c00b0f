"""Tenants and tokens: what the admin CLI and the bootstrap token do in the store."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hookline.core import ids
from hookline.store.engine import (
    create_engine,
    insert_ignoring_duplicates,
    session_maker,
    sqlite_path,
)
from hookline.store.tables import ConsoleSession, Tenant, Token

SCOPES = (
    "webhooks:read",
    "webhooks:write",
    "events:publish",
    "events:read",
    "events:redeliver",
    # The Temporal codec server (api/routes/codec.py): decode the tenant's own payloads
    # from workflow history; encrypt payloads.
    "codec:decode",
    "codec:encode",
)
TOKEN_PREFIX = "hl_"
T = TypeVar("T")


def hash_token(value: str) -> str:
    """Tokens carry 256 random bits, so SHA-256 is enough (no slow KDF needed)."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; allowed: {list(SCOPES)}")
    return [s for s in SCOPES if s in scopes]


class StoreMissing(Exception):
    """No hookline store where the settings point: one line saying where and what to do."""


def _no_store(where: str, why: str) -> StoreMissing:
    return StoreMissing(
        f"{why} at {where}: pass the --data-dir that `hookline dev` uses "
        "(or set HOOKLINE_DATA_DIR / HOOKLINE_DATABASE_URL), or create it with "
        "`hookline migrate --data-dir DIR`"
    )


async def run_in_store(
    database_url: str, sqlite_file: Path | None, action: Callable[..., Awaitable[T]], *args: Any
) -> T:
    """`action(session, *args)` in one transaction on the store at `database_url`;
    StoreMissing if there is no store there, or it cannot be reached. `sqlite_file`: the
    default store's file; None for a URL given by HOOKLINE_DATABASE_URL. A SQLite file must
    exist either way: opening a missing one would create an empty one."""
    where = str(sqlite_file) if sqlite_file else "HOOKLINE_DATABASE_URL"
    opened = sqlite_file or sqlite_path(database_url)
    if opened is not None and not opened.exists():
        raise _no_store(where if sqlite_file else f"{where} ({opened})", "no hookline store")
    engine = create_engine(database_url)
    try:
        async with session_maker(engine).begin() as session:
            return await action(session, *args)
    except DBAPIError as exc:
        text = str(exc.orig)
        if "no such table" in text.lower() or "does not exist" in text.lower():
            raise _no_store(where, "the store has no hookline tables") from None
        raise StoreMissing(f"the store at {where} failed: {text.splitlines()[0]}") from None
    except OSError as exc:  # the server refused or could not be reached
        raise StoreMissing(f"cannot reach the store at {where}: {exc}") from None
    finally:
        await engine.dispose()


@dataclass
class IssuedToken:
    token: Token
    value: str  # shown once, never stored


TENANT_NAME_MAX = 100


def _one_line(name: str, what: str, limit: int) -> str:
    """A name the admin commands print on one line, tab separated: no space at either end,
    at most `limit` characters, nothing unprintable."""
    if name != name.strip():
        raise ValueError(f"a {what} must not start or end with a space")
    if len(name) > limit:
        raise ValueError(f"a {what} has at most {limit} characters")
    if not name.isprintable():
        raise ValueError(f"a {what} must not hold tabs, newlines or other control characters")
    return name


def check_tenant_name(name: str) -> str:
    """A name an operator can type back, never one that reads as another tenant's id (the
    commands take either)."""
    if not name:
        raise ValueError("a tenant name must not be empty or start or end with a space")
    _one_line(name, "tenant name", TENANT_NAME_MAX)
    if name.startswith(ids.TENANT_PREFIX):
        raise ValueError(f"a tenant name must not start with {ids.TENANT_PREFIX!r} (tenant ids do)")
    return name


TOKEN_NAME_MAX = 200  # the column's length


def check_token_name(name: str) -> str:
    """A token's label, as `hookline token list` prints it (empty: none)."""
    return _one_line(name, "token name", TOKEN_NAME_MAX)


async def get_or_create_tenant(session: AsyncSession, name: str) -> Tenant:
    """Made unless it exists, safe beside another process doing the same (`hookline api
    --processes N` bootstraps in each): the INSERT comes first and yields to the other's row,
    and on SQLite it takes the write lock before anything is read, so what follows in the
    transaction reads the other's rows too."""
    await session.execute(
        insert_ignoring_duplicates(await session.connection(), Tenant.__table__),
        [{"id": ids.tenant_id(), "name": check_tenant_name(name)}],
    )
    return (await session.scalars(select(Tenant).where(Tenant.name == name))).one()


async def find_tenant(session: AsyncSession, ref: str) -> Tenant | None:
    """By id (`ten_…`) or by name."""
    return await session.scalar(select(Tenant).where((Tenant.id == ref) | (Tenant.name == ref)))


async def issue_token(
    session: AsyncSession,
    tenant: Tenant,
    *,
    name: str = "",
    scopes: list[str] | None = None,
    value: str | None = None,
) -> IssuedToken:
    value = value or new_token_value()
    token = Token(
        id=ids.token_id(),
        tenant_id=tenant.id,
        name=check_token_name(name),
        token_hash=hash_token(value),
        prefix=value[:10],
        scopes=check_scopes(list(SCOPES) if scopes is None else scopes),
    )
    session.add(token)
    await session.flush()
    return IssuedToken(token=token, value=value)


async def list_tokens(session: AsyncSession, tenant: Tenant) -> list[Token]:
    rows = await session.scalars(
        select(Token).where(Token.tenant_id == tenant.id).order_by(Token.created_at)
    )
    return list(rows)


async def revoke_token(session: AsyncSession, token_id: str) -> Token | None:
    """Revokes the token, and in the same transaction ends the console sign-in links and
    sessions it asked for (the console also refuses any whose token is revoked)."""
    token = await session.get(Token, token_id)
    if token is not None and token.revoked_at is None:
        now = datetime.now(UTC)
        token.revoked_at = now
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_id == token.id, ConsoleSession.ended_at.is_(None))
            .values(ended_at=now)
        )
    return token


async def ensure_bootstrap(session: AsyncSession, value: str) -> Tenant:
    """Tenant `default` with an all-scopes token of the given value (idempotent)."""
    tenant = await get_or_create_tenant(session, "default")
    existing = await session.scalar(select(Token).where(Token.token_hash == hash_token(value)))
    if existing is None:
        await issue_token(session, tenant, name="bootstrap", value=value)
    elif existing.revoked_at is not None or existing.tenant_id != tenant.id:
        raise ValueError("HOOKLINE_BOOTSTRAP_TOKEN names a revoked or foreign token")
    return tenant
