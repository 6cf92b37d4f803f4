"""Uploaded CSV files on a shared server: private to the session that uploaded them, shared by
link only if it says so, deleted with their runs after a while.

An upload is kept as `<digest>.csv` (the first 32 hex digits of its SHA-256, which is also how
links name it: `data=<digest>`) beside `<digest>.json`: when it was uploaded, the owners (the
sessions that uploaded these bytes, as opaque tokens) and whether its owners share it. A session
may use an upload if it owns it, or if it is shared and the session holds its link. Knowing the
digest means having had the file or its link: it is never listed anywhere.

Runs trained on an upload are stored with `privacy_fields` in their store summary (visibility
"private", the owner, the upload's digests), so History lists them to the sessions that own the
upload or trained the run only (`visible`). After `ttl_h` hours (RELU_LAB_UPLOAD_TTL_H, hosted 24)
`sweep` deletes the file, its record and every stored run trained on it, through the store's
public list/delete; the page sweeps when the server starts and on every upload.

No streamlit here; owners are whatever the page passes (dashboard.hosted: a hash of the session).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from core.atomic import write_bytes, write_text

DIGEST = re.compile(r"[0-9a-f]{32}")
PRIVATE = "private"


def digest_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def owner_token(session: str) -> str:
    """An opaque, stable token for a session id (summaries never hold the id itself)."""
    return hashlib.sha256(f"relu-lab-owner:{session}".encode()).hexdigest()[:16]


class Uploads:
    """The uploads of one server: files and their records in `folder`, kept `ttl_h` hours
    (None: until deleted). `clock` is epoch seconds (tests pass a fake one)."""

    def __init__(self, folder: str | os.PathLike, ttl_h: float | None = None, clock: Callable[[], float] = time.time):
        self.folder, self.ttl_h, self.clock = Path(folder), ttl_h, clock
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        return self.folder / f"{digest}.csv"

    def _record_path(self, digest: str) -> Path:
        return self.folder / f"{digest}.json"

    def record(self, digest: str) -> dict[str, Any] | None:
        """{created, owners, shared} of an upload whose file exists; None otherwise."""
        if not DIGEST.fullmatch(digest or "") or not self.path(digest).is_file():
            return None
        try:
            rec = json.loads(self._record_path(digest).read_text())
        except (OSError, ValueError):
            return None  # a file without its record (a crash mid-upload): nobody's, swept later
        return rec if isinstance(rec, dict) else None

    def _write(self, digest: str, rec: dict[str, Any]) -> None:
        write_text(self._record_path(digest), json.dumps(rec), perms=0o600)

    def save(self, data: bytes, owner: str, shared: bool | None = None) -> tuple[str, str]:
        """Keep an upload for `owner` (a new owner of bytes someone uploaded before shares
        nothing with them: each owner sees its own runs); returns (digest, path)."""
        digest = digest_of_bytes(data)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.path(digest)
            rec = self.record(digest)
            if not path.is_file():
                write_bytes(path, data, perms=0o600)  # whole or not at all; readable by this server only
            if rec is None:
                rec = {"created": self.clock(), "owners": [], "shared": False}
            if owner not in rec["owners"]:
                rec["owners"].append(owner)
            if shared is not None:
                rec["shared"] = bool(shared)
            rec["created"] = self.clock()  # uploading it again keeps it another ttl_h hours
            self._write(digest, rec)
        return digest, str(path)

    def owns(self, digest: str, owner: str) -> bool:
        rec = self.record(digest)
        return rec is not None and owner in rec.get("owners", [])

    def may_use(self, digest: str, owner: str) -> bool:
        """Whether `owner`'s session may train on the upload `digest` (it owns it, or holds a
        link to a shared one); False for anything unknown or expired."""
        rec = self.record(digest)
        if rec is None or self._expired(rec):
            return False
        return owner in rec.get("owners", []) or bool(rec.get("shared"))

    def set_shared(self, digest: str, owner: str, shared: bool) -> bool:
        """An owner shares its upload by link (or stops); returns whether it changed anything."""
        with self._lock:
            rec = self.record(digest)
            if rec is None or owner not in rec.get("owners", []) or bool(rec.get("shared")) == shared:
                return False
            rec["shared"] = shared
            self._write(digest, rec)
            return True

    def _expired(self, rec: dict[str, Any]) -> bool:
        return self.ttl_h is not None and self.clock() - float(rec.get("created", 0)) > self.ttl_h * 3600

    def sweep(self, store=None) -> tuple[int, int]:
        """Delete expired uploads (and files without a record, a day after they were written),
        and every stored run trained on an upload that is gone: a run lives as long as its data
        (uploading the file again keeps both another ttl_h hours). Returns (uploads, runs)
        deleted."""
        gone = 0
        if self.folder.is_dir():
            with self._lock:
                for csv in self.folder.glob("*.csv"):
                    digest = csv.stem
                    rec = self.record(digest)
                    stale = rec is None and self.clock() - _mtime(csv) > 24 * 3600
                    if (rec is not None and self._expired(rec)) or stale:
                        for p in (csv, self._record_path(digest)):
                            try:
                                p.unlink()
                            except FileNotFoundError:
                                pass
                        gone += 1
        runs = 0
        if store is not None:
            for row in store.list(limit=1_000_000):
                digests = row.get("upload")
                if isinstance(digests, list) and any(self.record(str(d)) is None for d in digests):
                    runs += bool(store.delete(row["key"]))
        return gone, runs


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def upload_digests(configs: Iterable[Any]) -> list[str]:
    """The digests of the CSV files an experiment's variants train on (content, not path)."""
    from core.csvdata import csv_info

    return sorted({csv_info(c.data_path).sha256[:32] for c in configs if c.dataset == "csv"})


def privacy_fields(configs: Iterable[Any], owner: str | None) -> dict[str, Any]:
    """Summary fields of a run trained on uploads: private to its owner and the uploads' owners.
    Empty for runs on built-in data (public to every visitor of the server)."""
    digests = upload_digests(configs)
    if not digests:
        return {}
    return {"visibility": PRIVATE, "owner": owner, "upload": digests}


def visible(row: dict[str, Any], owner: str | None, uploads: Uploads | None) -> bool:
    """Whether a stored run's summary row may be listed (or reopened) for `owner`'s session."""
    if row.get("visibility") != PRIVATE and not row.get("upload"):
        return True
    if owner is None:
        return False
    if row.get("owner") == owner:
        return True
    return uploads is not None and any(uploads.owns(str(d), owner) for d in row.get("upload") or [])
