"""The console's pure parts: the sparkline's geometry, keyset cursors; and its sessions in the
store (single use, expiry, sign-out), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hookline.api.console import sparkline
from hookline.api.console.queries import EPOCH, parse_cursor
from hookline.store.admin import hash_token
from hookline.store.console_sessions import (
    CONSOLE_SCOPES,
    consume_login,
    csrf_token,
    end_session,
    find_session,
    issue_login,
)
from hookline.store.tables import ConsoleSession, Token

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_bars_stack_by_status_class_and_scale_to_the_busiest_hour():
    spark = sparkline.build([{}, {"2xx": 2}, {"5xx": 1, "2xx": 3}, {"network": 4}])
    assert spark.totals == {"2xx": 5, "5xx": 1, "network": 4}
    assert "5 2xx, 1 5xx, 4 network" in spark.label
    bars = {(bar.x, bar.status_class): bar for bar in spark.bars}
    ok, failed = bars[(84.0, "2xx")], bars[(84.0, "5xx")]
    assert ok.height == sparkline.HEIGHT * 3 / 4 and failed.y + failed.height == ok.y  # on top
    assert bars[(126.0, "network")].height == sparkline.HEIGHT  # the busiest hour fills it
    assert {bar.x for bar in spark.bars} == {42.0, 84.0, 126.0}  # an empty hour draws nothing


def test_an_idle_webhook_has_an_empty_sparkline():
    spark = sparkline.build([{} for _ in range(24)])
    assert spark.bars == [] and spark.label == "No attempts in the last 24 hours"


def test_status_classes():
    assert [sparkline.status_class(c) for c in (None, 200, 302, 404, 503, 100)] == [
        "network",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "2xx",
    ]


def test_cursors_are_checked():
    micros = (NOW - EPOCH) // timedelta(microseconds=1)
    assert parse_cursor(f"{micros}.evt_abc") == (NOW, "evt_abc")
    for bad in (
        "",
        "x.evt",
        "123",
        "12.",
        "-5.evt_a",
        "1" * 120 + ".e",
        "²³.evt_x",
        "9" * 26 + ".e",
    ):
        assert parse_cursor(bad) is None


def test_csrf_tokens_differ_per_session():
    assert csrf_token("a") != csrf_token("b") and csrf_token("a") == csrf_token("a")


async def token_of(sessions, tenant) -> str:
    async with sessions() as session:
        return await session.scalar(
            select(Token.id).where(Token.token_hash == hash_token(tenant.token))
        )


async def test_a_login_opens_one_session_until_it_expires_or_ends(sessions, tenant):
    token_id = await token_of(sessions, tenant)
    async with sessions.begin() as session:
        issued = await issue_login(
            session, tenant.tenant_id, ["events:read", "x"], HOUR, NOW, token_id=token_id
        )
    assert issued.expires_at == NOW + HOUR
    async with sessions.begin() as session:
        assert await consume_login(session, issued.token, HOUR, NOW + 2 * HOUR) is None  # late
        signed_in = await consume_login(session, issued.token, 8 * HOUR, NOW + HOUR / 2)
        assert signed_in is not None and signed_in.tenant_id == tenant.tenant_id
        assert await consume_login(session, issued.token, 8 * HOUR, NOW + HOUR / 2) is None
    async with sessions() as session:
        found = await find_session(session, signed_in.token, NOW + HOUR)
        assert found is not None and found.tenant_name == "acme"
        assert found.scopes == {"events:read"}  # only console scopes the token had
        assert await find_session(session, signed_in.token, NOW + 9 * HOUR) is None  # expired
        assert await find_session(session, issued.token, NOW + HOUR) is None  # not a session
    async with sessions.begin() as session:
        await end_session(session, signed_in.session_id, NOW + HOUR)
    async with sessions() as session:
        assert await find_session(session, signed_in.token, NOW + HOUR) is None


async def test_issuing_forgets_unusable_sessions(sessions, tenant):
    token_id = await token_of(sessions, tenant)
    async with sessions.begin() as session:
        stale = await issue_login(
            session, tenant.tenant_id, CONSOLE_SCOPES, HOUR, NOW, token_id=token_id
        )
        fresh = await issue_login(
            session, tenant.tenant_id, CONSOLE_SCOPES, HOUR, NOW + 2 * HOUR, token_id=token_id
        )
        kept = await session.scalars(select(ConsoleSession.id))
        assert set(kept) == {fresh.session_id} != {stale.session_id}
