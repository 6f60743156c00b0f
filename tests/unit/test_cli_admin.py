"""Admin commands find the store `hookline dev` uses, or say in one line they cannot (14.7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def hookline(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "hookline.cli", *args],
        cwd=cwd,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_the_data_dir_one_line_and_no_empty_store_left(tmp_path):
    done = hookline("tenant", "create", "acme", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert f"no hookline store at {tmp_path / '.hookline' / 'hookline.db'}" in line
    assert "--data-dir" in line
    assert not (tmp_path / ".hookline").exists()


def test_an_empty_store_file_is_named_not_a_traceback(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "hookline.db").write_bytes(b"")
    done = hookline("token", "list", "acme", "--data-dir", "x", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("the store has no hookline tables at ") and "migrate" in line


def test_data_dir_flag_and_env_reach_the_same_store(tmp_path):
    data = tmp_path / "X"
    assert hookline("migrate", "--data-dir", "X", cwd=tmp_path).returncode == 0
    created = hookline("tenant", "create", "acme", "--data-dir", "X", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    tenant_id = created.stdout.split("\t")[0]
    issued = hookline(
        "token", "create", "acme", "--name", "ci", cwd=tmp_path, HOOKLINE_DATA_DIR=str(data)
    )
    assert issued.returncode == 0, issued.stderr
    token_id = issued.stdout.split()[2]
    listed = hookline("token", "list", tenant_id, "--data-dir", str(data), cwd=tmp_path)
    assert token_id in listed.stdout and "active" in listed.stdout
    revoked = hookline("token", "revoke", token_id, "--data-dir", "X", cwd=tmp_path)
    assert revoked.stdout.strip() == f"revoked {token_id}"
    assert not (tmp_path / ".hookline").exists()


def test_admin_commands_refuse_what_an_operator_could_not_type_back(tmp_path):
    assert hookline("migrate", "--data-dir", "X", cwd=tmp_path).returncode == 0
    for name in ("", " acme", "a\tb", "a\nb", "x" * 101, "ten_0123"):
        done = hookline("tenant", "create", name, "--data-dir", "X", cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (name, done.stderr)
        assert "tenant name" in done.stderr, name
    assert hookline("tenant", "create", "x" * 100, "--data-dir", "X", cwd=tmp_path).returncode == 0
    listed = hookline("token", "list", "a\tb", "--data-dir", "X", cwd=tmp_path)
    assert listed.returncode == 1 and "no tenant" in listed.stderr
    for name in (" ci", "c\ti", "c\ni", "x" * 201):
        done = hookline(
            "token", "create", "x" * 100, "--name", name, "--data-dir", "X", cwd=tmp_path
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, (name, done.stderr)
        assert "token name" in done.stderr, name
    named = hookline(
        "token", "create", "x" * 100, "--name", "é" * 200, "--data-dir", "X", cwd=tmp_path
    )
    assert named.returncode == 0, named.stderr
    tokens = hookline("token", "list", "x" * 100, "--data-dir", "X", cwd=tmp_path).stdout
    assert [line.split("\t")[2] for line in tokens.splitlines()] == ["é" * 200]


def test_an_empty_scope_list_grants_nothing_rather_than_everything(tmp_path):
    assert hookline("migrate", "--data-dir", "X", cwd=tmp_path).returncode == 0
    assert hookline("tenant", "create", "acme", "--data-dir", "X", cwd=tmp_path).returncode == 0
    for scopes in ("", ",", " "):
        done = hookline(
            "token", "create", "acme", "--scopes", scopes, "--data-dir", "X", cwd=tmp_path
        )
        assert done.returncode == 1 and "names no scope" in done.stderr, (scopes, done.stderr)
    narrow = hookline(
        "token", "create", "acme", "--scopes", "events:read, ", "--data-dir", "X", cwd=tmp_path
    )
    assert narrow.returncode == 0, narrow.stderr
    assert "scopes:   events:read\n" in narrow.stdout
    listed = hookline("token", "list", "acme", "--data-dir", "X", cwd=tmp_path).stdout
    assert len(listed.splitlines()) == 1  # the refused ones made no token


def test_revoking_twice_says_so_and_an_unknown_id_is_named(tmp_path):
    assert hookline("migrate", "--data-dir", "X", cwd=tmp_path).returncode == 0
    assert hookline("tenant", "create", "acme", "--data-dir", "X", cwd=tmp_path).returncode == 0
    token_id = hookline("token", "create", "acme", "--data-dir", "X", cwd=tmp_path).stdout.split()[
        2
    ]
    first = hookline("token", "revoke", token_id, "--data-dir", "X", cwd=tmp_path)
    assert first.stdout.strip() == f"revoked {token_id}"
    again = hookline("token", "revoke", token_id, "--data-dir", "X", cwd=tmp_path)
    assert again.returncode == 0 and "already revoked on" in again.stdout
    unknown = hookline("token", "revoke", "tok_nope", "--data-dir", "X", cwd=tmp_path)
    assert unknown.returncode == 1 and "no token 'tok_nope'" in unknown.stderr


def test_a_bad_setting_is_one_line_naming_its_variable(tmp_path):
    """Every command reads the settings first; a value it refuses is named as it is set, with
    no traceback, and a URL's password is never printed."""
    for command in (("token", "list", "acme"), ("migrate",), ("api",)):
        done = hookline(*command, cwd=tmp_path, HOOKLINE_DELIVERY_TIMEOUT="abc")
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "HOOKLINE_DELIVERY_TIMEOUT: not a duration: 'abc'" in done.stderr
    for url in ("mysql://root:hunter2@db/hooks", "hunter2", "postgresql://u:hunter2@db"):
        done = hookline("migrate", cwd=tmp_path, HOOKLINE_DATABASE_URL=url)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "HOOKLINE_DATABASE_URL:" in done.stderr and "hunter2" not in done.stderr
    assert not (tmp_path / ".hookline").exists()


def test_a_database_url_to_a_missing_file_or_a_dead_server_says_so(tmp_path):
    missing = tmp_path / "elsewhere" / "hookline.db"
    for scheme in ("sqlite+aiosqlite", "sqlite"):
        done = hookline(
            "token", "list", "acme", cwd=tmp_path, HOOKLINE_DATABASE_URL=f"{scheme}:///{missing}"
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"no hookline store at HOOKLINE_DATABASE_URL ({missing})" in done.stderr
        assert not missing.parent.exists()  # nothing created, not even the directory
    # Nothing listens on port 1 of this machine.
    dead = "postgres://hookline:hunter2@127.0.0.1:1/hookline"
    done = hookline("tenant", "create", "acme", cwd=tmp_path, HOOKLINE_DATABASE_URL=dead)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert (
        line.startswith("cannot reach the store at HOOKLINE_DATABASE_URL") and "hunter2" not in line
    )
