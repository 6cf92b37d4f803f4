"""Uploads on a shared server: their owners', shared by link only if they say so, swept with
their runs after their time (on a clock the test moves)."""
from __future__ import annotations

import os
import time

import pytest

from core.config import validate
from core.csvdata import example_csv
from core.serve.uploads import PRIVATE, Uploads, digest_of_bytes, owner_token, privacy_fields, visible
from core.store import RunStore

DATA = example_csv().encode()
OTHER = example_csv(60).encode()


class Clock:
    """Epoch seconds from now on, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def uploads(tmp_path, clock):
    return Uploads(tmp_path / "uploads", ttl_h=24, clock=clock)


def test_an_upload_is_its_owners_until_shared(uploads):
    digest, path = uploads.save(DATA, "alice")
    assert digest == digest_of_bytes(DATA) and open(path, "rb").read() == DATA
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"  # readable by the server only
    assert uploads.may_use(digest, "alice") and uploads.owns(digest, "alice")
    assert not uploads.may_use(digest, "bob") and not uploads.owns(digest, "bob")
    assert not uploads.set_shared(digest, "bob", True)  # only an owner shares
    assert uploads.set_shared(digest, "alice", True)
    assert uploads.may_use(digest, "bob") and not uploads.owns(digest, "bob")  # the link works, nothing more
    assert uploads.set_shared(digest, "alice", False) and not uploads.may_use(digest, "bob")
    # bob uploads the same bytes: he owns it too (he has the data anyway)
    assert uploads.save(DATA, "bob")[0] == digest and uploads.owns(digest, "bob") and uploads.owns(digest, "alice")
    for nothing in ("", "0" * 32, "../../etc/passwd", digest.upper(), digest[:16]):
        assert not uploads.may_use(nothing, "alice")


def test_uploads_and_their_runs_expire(uploads, clock, tmp_path):
    store = RunStore(tmp_path / "runs.db")
    old, _ = uploads.save(DATA, "alice")
    store.put("a" * 32, {"x": 1}, {"title": "on the old upload", **_private("alice", [old])})
    store.put("p" * 32, {"x": 1}, {"title": "moons, public"})
    clock.now += 23 * 3600
    new, _ = uploads.save(OTHER, "bob")
    store.put("b" * 32, {"x": 1}, {"title": "on the new upload", **_private("bob", [new])})
    assert uploads.sweep(store) == (0, 0)
    clock.now += 2 * 3600  # the first upload is 25 h old, the second 2 h
    assert uploads.sweep(store) == (1, 1)
    assert not uploads.may_use(old, "alice") and not uploads.path(old).exists()
    assert uploads.may_use(new, "bob")
    assert sorted(r["title"] for r in store.list()) == ["moons, public", "on the new upload"]
    clock.now += 23 * 3600
    uploads.save(OTHER, "carol")  # uploaded again: the file and its runs stay another 24 h
    assert uploads.sweep(store) == (0, 0)
    clock.now += 25 * 3600
    assert uploads.sweep(store) == (1, 1) and [r["title"] for r in store.list()] == ["moons, public"]


def test_no_time_limit_keeps_uploads(tmp_path, clock):
    uploads = Uploads(tmp_path / "u", ttl_h=None, clock=clock)
    digest, _ = uploads.save(DATA, "alice")
    clock.now += 10 * 365 * 86400
    assert uploads.sweep() == (0, 0) and uploads.may_use(digest, "alice")


def _private(owner: str, digests: list[str]) -> dict:
    return {"visibility": PRIVATE, "owner": owner, "upload": digests}


def test_runs_on_uploads_are_listed_to_their_owners_only(uploads, tmp_path):
    digest, path = uploads.save(DATA, "alice")
    fields = privacy_fields([validate(dataset="csv", data_path=path), validate()], "alice")
    assert fields == _private("alice", [digest])
    assert privacy_fields([validate()], "alice") == {}  # built-in data: public
    row = {"key": "k", **fields}
    assert visible(row, "alice", uploads)
    assert not visible(row, "bob", uploads) and not visible(row, None, uploads)
    uploads.set_shared(digest, "alice", True)
    assert not visible(row, "bob", uploads)  # shared by link: trainable, never listed
    uploads.save(DATA, "bob")
    assert visible(row, "bob", uploads)  # he uploaded the same file: its runs are his to see
    assert visible({"key": "p", "title": "moons"}, None, uploads)
    assert not visible({"key": "q", "upload": ["f" * 32]}, "carol", uploads)


def test_owner_tokens_are_stable_and_opaque():
    assert owner_token("session-1") == owner_token("session-1") != owner_token("session-2")
    assert "session-1" not in owner_token("session-1") and len(owner_token("x")) == 16
