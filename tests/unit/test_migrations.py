"""The migrations build exactly the schema the SQLAlchemy tables describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from hookline.store.migrate import upgrade
from hookline.store.tables import Base


async def test_migrated_schema_matches_the_tables(tmp_path):
    path = tmp_path / "schema.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
