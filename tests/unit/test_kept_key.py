"""The key `hookline dev` keeps in its data dir: created once, 0600, reused."""

from __future__ import annotations

import stat

import pytest

from hookline.infra.crypto import kept_key, parse_keys


def test_created_once_owner_only_then_reused(tmp_path):
    path = tmp_path / "encryption-key"
    key = kept_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(parse_keys([key])) == 1
    path.chmod(0o644)  # loosened by hand: tightened again, same key
    assert kept_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "encryption-key"
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="not valid base64"):
        kept_key(path)
    assert path.read_text() == "not a key\n"
