"""Claims: an experiment asked for by several processes on one store trains once.

Before training an experiment that is not stored, a process takes its claim: a row
`claims(key, owner, expires)` written in one transaction (RunStore.try_claim), which one owner
at a time holds. The others wait: they poll the store for the result, and take the claim when
it is released without a result (its owner stopped or failed) or when its lease ran out
unrenewed (its owner died: kill -9, a lost machine). The holder renews the lease while it
trains (Claim.keep_alive) and releases it after storing the result.

    turn = claim_or_wait(store, key)
    if turn.doc is not None:      # stored by another process meanwhile: serve it
        ...
    elif turn.claim is not None:  # ours to train
        with turn.claim.keep_alive():
            ...train, store.put(...)...
    else:                         # should_stop() turned true while waiting
        ...

Backend-neutral: only `get` and the four claim methods of a store are used (try_claim,
renew_claim, release_claim, claim_holder), which a PostgreSQL store implements on the same
row with INSERT ... ON CONFLICT ... WHERE expires <= now. Leases are read on the store's clock.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LEASE_S = 30.0   # a claim not renewed for this long is taken over (its owner is presumed dead)
POLL_S = 0.2     # how often a waiting process looks for the result

log = logging.getLogger(__name__)


def new_owner() -> str:
    """A name unique to one claim attempt, readable in the table: host, process, random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Claim:
    """The right to train `key`, held by `owner` until released or until its lease runs out."""

    def __init__(self, store, key: str, owner: str, lease_s: float = LEASE_S):
        self.store, self.key, self.owner, self.lease_s = store, key, owner, lease_s
        self.lost = False  # a renewal found it taken over (this process stalled past its lease)
        self._released = threading.Event()
        self._keeper: threading.Thread | None = None

    def renew(self) -> bool:
        ok = self.store.renew_claim(self.key, self.owner, self.lease_s)
        if not ok and not self.lost:
            self.lost = True
            log.warning("claim on run %s was taken over by another process; training on regardless", self.key[:12])
        return ok

    def keep_alive(self, every: float | None = None) -> Claim:
        """Renew the lease every `every` seconds (a third of it by default) in a daemon thread,
        until release: a training longer than the lease keeps its claim, however long its epochs."""
        every = self.lease_s / 3 if every is None else every

        def run() -> None:
            while not self._released.wait(every):
                try:
                    if not self.renew():
                        return
                except Exception:  # noqa: BLE001 - a busy store now and then: try again next time
                    log.exception("renewing the claim on run %s", self.key[:12])

        self._keeper = threading.Thread(target=run, name=f"relu-lab-claim-{self.key[:8]}", daemon=True)
        self._keeper.start()
        return self

    def release(self) -> None:
        """Give the claim up (idempotent). Waiting processes then find the result, or take it."""
        if self._released.is_set():
            return
        self._released.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=5)
        try:
            self.store.release_claim(self.key, self.owner)
        except Exception:  # noqa: BLE001 - an unreleased claim expires on its own
            log.exception("releasing the claim on run %s", self.key[:12])

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


@dataclass
class Turn:
    """What claim_or_wait found: the stored document, or the claim, or (stopped) neither."""

    doc: dict | None = None
    claim: Claim | None = None
    waited: bool = False  # another owner held the claim for a while


def claim_or_wait(store, key: str, *, owner: str | None = None, lease_s: float = LEASE_S, poll_s: float = POLL_S,
                  on_wait: Callable[[str], Any] | None = None, should_stop: Callable[[], bool] | None = None,
                  wait: Callable[[float], Any] = time.sleep, events: list[str] | None = None) -> Turn:
    """Take the claim on `key`, or wait for whoever holds it: Turn(doc=...) if the result is (or
    gets) stored, Turn(claim=...) when it is ours to train, Turn() if should_stop() turned true.

    While another owner holds it: on_wait(owner) then wait(poll_s), in a loop, until the result
    is stored, or the claim is released or expires (then it is taken). events: as RunStore.get.
    Tests pass a `wait` that moves a fake clock instead of sleeping."""
    owner = owner or new_owner()
    waited = False
    said: set[str] = set()

    def get() -> dict | None:  # each event once, however many polls see it
        ev: list[str] = []
        doc = store.get(key, ev)
        for msg in ev:
            if events is not None and msg not in said:
                said.add(msg)
                events.append(msg)
        return doc

    while True:
        if store.try_claim(key, owner, lease_s):
            doc = get()  # stored between the caller's look and this claim
            if doc is not None:
                store.release_claim(key, owner)
                return Turn(doc=doc, waited=waited)
            return Turn(claim=Claim(store, key, owner, lease_s), waited=waited)
        while True:
            doc = get()
            if doc is not None:
                return Turn(doc=doc, waited=True)
            holder = store.claim_holder(key)
            if holder is None:
                break  # released without a result, or expired: try to take it
            waited = True
            if on_wait is not None:
                on_wait(holder)
            if should_stop is not None and should_stop():
                return Turn(waited=True)
            wait(poll_s)
