"""The development identity keys: made once per data directory, private key 0600, given to every process."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.common.auth import issue_identity, read_identity
from services.common.errors import Unauthorized
from services.common.internal_keys import development_pair, new_pair, private_key, public_keys
from services.common.launcher import System
from tests.harness import WENSHUI


def test_a_data_directory_gets_one_pair_the_private_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    private, public = development_pair(tmp_path)
    keys = tmp_path / "keys"
    assert stat.S_IMODE((keys / "internal.pem").stat().st_mode) == 0o600
    assert (keys / "internal.pem").read_text() == private and (
        keys / "internal.pub.pem"
    ).read_text() == public
    assert development_pair(tmp_path) == (private, public)  # made once, then read
    token = issue_identity(WENSHUI, private_key(private))
    assert read_identity(token, public_keys(public)) == WENSHUI
    assert development_pair(tmp_path / "other")[0] != private


def test_qsr_up_in_development_gives_every_process_the_data_directorys_pair(tmp_path: Path) -> None:
    first = System(data_dir=tmp_path, env={"QSR_ENV": "development"}, ports={})
    again = System(data_dir=tmp_path, env={}, ports={})
    assert first.env["QSR_INTERNAL_SIGNING_KEY"] == again.env["QSR_INTERNAL_SIGNING_KEY"]
    assert (first.env["QSR_INTERNAL_SIGNING_KEY"], first.env["QSR_INTERNAL_PUBLIC_KEY"]) == development_pair(
        tmp_path
    )
    # Keys that are given, or production, are left alone (production refuses to start without them).
    private, public = new_pair()
    given = System(
        data_dir=tmp_path / "given",
        env={"QSR_INTERNAL_SIGNING_KEY": private, "QSR_INTERNAL_PUBLIC_KEY": public},
        ports={},
    )
    assert given.env["QSR_INTERNAL_SIGNING_KEY"] == private and not (tmp_path / "given" / "keys").exists()
    production = System(data_dir=tmp_path / "prod", env={"QSR_ENV": "production"}, ports={})
    assert "QSR_INTERNAL_SIGNING_KEY" not in production.env and not (tmp_path / "prod").exists()


def test_a_key_list_accepts_each_listed_key_and_no_other() -> None:
    (old, old_public), (new, new_public) = new_pair(), new_pair()
    both = public_keys(new_public + "\n" + old_public)
    assert len(both) == 2
    for key in (old, new):
        assert read_identity(issue_identity(WENSHUI, private_key(key)), both) == WENSHUI
    with pytest.raises(Unauthorized):
        read_identity(issue_identity(WENSHUI, private_key(old)), public_keys(new_public))
    for wrong in ("", "ssh-ed25519 AAAA", old):  # nothing, another format, a private key
        with pytest.raises(ValueError):
            public_keys(wrong)
