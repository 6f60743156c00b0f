"""The data dir and the stores in it are the owner's alone (payloads, secrets, URL tokens);
a data dir that cannot be made, or a store the working directory would get by surprise,
stops a command in one line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from hookline.devserver import free_port
from hookline.store.engine import create_engine
from tests.support.ports import free_port_and_next

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hookline(*args: str, cwd: Path | None = None, env: dict | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "hookline.cli", *args],
        cwd=cwd,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_new_sqlite_store_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "new" / "hookline.db"
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as connection:  # WAL and shm exist while it is open
            await connection.execute(text("SELECT * FROM t"))
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        await engine.dispose()
        assert mode(db.parent) == 0o700
    finally:
        os.umask(old)


async def test_an_existing_store_readable_by_others_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "hookline.db"
    for path in (db, Path(f"{db}-wal")):
        path.touch()
        path.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await engine.dispose()
    assert mode(db) == 0o600 and mode(Path(f"{db}-wal")) == 0o600


def test_migrate_makes_the_data_dir_0700_and_the_store_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = hookline("migrate", "--data-dir", str(data), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700 and mode(data / "hookline.db") == 0o600


@pytest.mark.parametrize("where", ["file", "proc"])
@pytest.mark.parametrize("command", ["dev", "migrate"])
def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path, where: str, command: str):
    if where == "file":
        (tmp_path / "a-file").write_text("x")
        data = str(tmp_path / "a-file" / "data")
    else:
        data = "/proc/hookline-x"
    args = [command, "--data-dir", data]
    if command == "dev":  # free ports: the port check comes first
        for flag in ("--api-port", "--temporal-port", "--ui-port", "--worker-metrics-port"):
            args += [flag, str(free_port())]
        args += ["--sdk-metrics-port", str(free_port_and_next())]
    done = hookline(*args, cwd=ROOT)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"hookline {command}: cannot create the data dir ") and data in line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("role", ["api", "worker"])
def test_no_store_is_made_in_the_working_directory_by_surprise(tmp_path: Path, role: str):
    done = hookline(role, cwd=tmp_path)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"hookline {role}: no store at {tmp_path}/.hookline/hookline.db")
    assert "HOOKLINE_DATA_DIR" in line and "hookline migrate" in line
    assert list(tmp_path.iterdir()) == []
