"""core.store.claims: identical experiments asked for by several processes on one store train once.

Leases are tested on a fake clock, never with sleeps; the processes are real ones, and who
trained is counted by a marker file the runner writes."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from core.store import Claim, RunStore, claim_or_wait
from core.store.claims import LEASE_S, new_owner

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stores(tmp_path: Path, clock: FakeClock) -> tuple[RunStore, RunStore]:
    """Two processes' views of one store file (two RunStore objects), on one fake clock."""
    path = tmp_path / "runs.db"
    return RunStore(path, clock=clock), RunStore(path, clock=clock)


# --- the claim row ------------------------------------------------------------------------

class ClaimModel(RuleBasedStateMachine):
    """Any interleaving of claims, renewals, releases and time by three owners on two views of
    one store agrees with a model of one lease per key."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.clock = FakeClock()
        self.folder = tempfile.mkdtemp(prefix="relu-lab-claims-")
        path = Path(self.folder) / "runs.db"
        self.views = [RunStore(path, clock=self.clock), RunStore(path, clock=self.clock)]
        self.model: dict[str, tuple[str, float]] = {}  # key -> (owner, expires)

    def teardown(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)

    def _live(self, key: str) -> str | None:
        held = self.model.get(key)
        return held[0] if held and held[1] > self.clock.t else None

    @rule(view=st.integers(0, 1), owner=st.sampled_from("ABC"), key=st.sampled_from(["k1", "k2"]),
          lease=st.sampled_from([5.0, 30.0]))
    def claim(self, view, owner, key, lease) -> None:
        got = self.views[view].try_claim(key, owner, lease)
        holder = self._live(key)
        assert got == (holder in (None, owner))
        if got:
            self.model[key] = (owner, self.clock.t + lease)

    @rule(view=st.integers(0, 1), owner=st.sampled_from("ABC"), key=st.sampled_from(["k1", "k2"]))
    def renew(self, view, owner, key) -> None:
        held = self.model.get(key)
        got = self.views[view].renew_claim(key, owner, 30.0)
        # A renewal extends the row while it is this owner's, even just expired (not yet taken over).
        assert got == (held is not None and held[0] == owner)
        if got:
            self.model[key] = (owner, self.clock.t + 30.0)

    @rule(view=st.integers(0, 1), owner=st.sampled_from("ABC"), key=st.sampled_from(["k1", "k2"]))
    def release(self, view, owner, key) -> None:
        self.views[view].release_claim(key, owner)
        if self.model.get(key, ("",))[0] == owner:
            del self.model[key]

    @rule(dt=st.sampled_from([1.0, 4.0, 10.0, 31.0]))
    def tick(self, dt) -> None:
        self.clock.t += dt

    @invariant()
    def holders_agree(self) -> None:
        for key in ("k1", "k2"):
            assert self.views[0].claim_holder(key) == self.views[1].claim_holder(key) == self._live(key)


TestClaimModel = ClaimModel.TestCase
TestClaimModel.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)


# --- claim_or_wait ------------------------------------------------------------------------

def test_a_free_experiment_is_claimed_at_once(stores) -> None:
    a, _ = stores
    turn = claim_or_wait(a, "k", owner="A", wait=pytest.fail)
    assert turn.doc is None and isinstance(turn.claim, Claim) and not turn.waited
    assert a.claim_holder("k") == "A"
    with turn.claim:
        pass
    assert a.claim_holder("k") is None  # released on leaving


def test_a_result_stored_meanwhile_is_served_and_the_claim_given_back(stores) -> None:
    a, b = stores
    b.put("k", {"result": 1}, {})  # stored after the caller looked, before it claimed
    turn = claim_or_wait(a, "k", owner="A", wait=pytest.fail)
    assert turn.doc == {"result": 1} and turn.claim is None and a.claim_holder("k") is None


def test_a_waiter_is_served_what_the_holder_stores(stores, clock) -> None:
    a, b = stores
    assert b.try_claim("k", "B", LEASE_S)
    seen: list[str] = []

    def wait(s: float) -> None:  # the holder works on; at the third look its result is there
        clock.t += s
        if len(seen) == 3:
            b.put("k", {"result": 2}, {})
            b.release_claim("k", "B")

    turn = claim_or_wait(a, "k", owner="A", on_wait=seen.append, wait=wait)
    assert turn.doc == {"result": 2} and turn.claim is None and turn.waited and seen == ["B", "B", "B"]


def test_a_holder_that_gives_up_without_a_result_hands_over(stores, clock) -> None:
    a, b = stores
    assert b.try_claim("k", "B", LEASE_S)

    def wait(s: float) -> None:  # Ctrl-C, a stopped run: released, nothing stored
        clock.t += s
        b.release_claim("k", "B")

    turn = claim_or_wait(a, "k", owner="A", wait=wait)
    assert turn.claim is not None and turn.waited and a.claim_holder("k") == "A"


def test_a_living_holder_keeps_its_claim_however_long_it_trains(stores, clock) -> None:
    a, b = stores
    assert b.try_claim("k", "B", LEASE_S)
    n = [0]

    def wait(s: float) -> None:  # the holder renews every 10 s for 5 minutes, then stores
        clock.t += s
        n[0] += 1
        if n[0] % 10 == 0:
            b.renew_claim("k", "B", LEASE_S)
        if n[0] == 300:
            b.put("k", {"long": True}, {})

    turn = claim_or_wait(a, "k", owner="A", poll_s=1.0, wait=wait)
    assert turn.doc == {"long": True} and n[0] == 300


def test_a_waiter_that_should_stop_stops(stores, clock) -> None:
    a, b = stores
    assert b.try_claim("k", "B", LEASE_S)
    turn = claim_or_wait(a, "k", owner="A", should_stop=lambda: True, wait=pytest.fail)
    assert turn.doc is None and turn.claim is None and turn.waited and b.claim_holder("k") == "B"


def test_on_a_read_only_store_every_claim_is_granted_and_nothing_written(tmp_path, read_only) -> None:
    path = tmp_path / "ro" / "runs.db"
    RunStore(path)
    read_only(path.parent)
    s = RunStore(path)
    turn = claim_or_wait(s, "k", wait=pytest.fail)
    assert turn.claim is not None and s.claim_holder("k") is None
    turn.claim.release()
    assert sorted(os.listdir(path.parent)) == ["runs.db"]


def test_keep_alive_renews_until_released(tmp_path) -> None:
    class Recording:
        def __init__(self) -> None:
            self.renewed = threading.Event()
            self.released = threading.Event()

        def renew_claim(self, key, owner, lease_s) -> bool:
            self.renewed.set()
            return True

        def release_claim(self, key, owner) -> None:
            self.released.set()

    store = Recording()
    claim = Claim(store, "k", new_owner(), lease_s=30).keep_alive(every=0.01)
    assert store.renewed.wait(30)  # renewed on its own, from its thread
    claim.release()
    assert store.released.is_set() and not claim._keeper.is_alive()
    claim.release()  # twice is harmless


def test_owner_names_are_unique_and_say_where_they_come_from() -> None:
    a, b = new_owner(), new_owner()
    assert a != b and f":{os.getpid()}:" in a


# --- real processes -----------------------------------------------------------------------

def test_four_processes_asking_for_one_experiment_train_it_once(tmp_path: Path, cli_race) -> None:
    """The reproduction: identical CLI runs in several processes all trained."""
    db = tmp_path / "runs.db"
    results = cli_race(4, "core.store:RunStore", str(db))
    assert any("waiting: another process is training this experiment" in err for _, err in results)
    assert len({out for out, _ in results}) == 1
    assert len(RunStore(db).list()) == 1 and RunStore(db).claim_holder(RunStore(db).list()[0]["key"]) is None
