"""Store faults for bench.attack: what a server or the CLI does when its run store is deleted,
overwritten, damaged, read-only or not a store at all. Each fault is tried on a fresh folder;
a server is stood for by the page's path (core.serve.run_guarded with one RunStore object kept
across requests, as the page's cached store is)."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.config import validate

TINY = dict(n_samples=60, epochs=1, seeds=1, width=4, batch_size=0)


def _serve(store, seed: int):
    """One request of the page's path: (experiment, notes), or the exception it raised."""
    from core.serve import JobRegistry, Limits, TrainingGate, run_guarded

    try:
        exp, _, notes = run_guarded(validate(TINY, seed=seed), None, limits=Limits(), store=store,
                                    gate=TrainingGate(1, 5), jobs=JobRegistry())
        return exp, notes
    except Exception as e:  # noqa: BLE001 - reported by the caller
        return e, []


def _wipe(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def _served(what, stored_keys: set[str], key: str, need_stored: bool) -> str:
    exp, _ = what
    if isinstance(exp, Exception):
        return f"{type(exp).__name__}: {str(exp)[:70]}"
    if exp.status != "ok":
        return f"status {exp.status}"
    if need_stored and key not in stored_keys:
        return "served but not stored"
    return ""


def _keys(store) -> set[str]:
    try:
        return {r["key"] for r in store.list()}
    except Exception:  # noqa: BLE001 - a store that cannot even list
        return set()


def fault_deleted(tmp: Path) -> str:
    from core.store import RunStore, store_key

    path = tmp / "deleted" / "runs.db"
    store = RunStore(path)
    first = _served(_serve(store, 1), _keys(store), store_key([validate(TINY, seed=1)]), True)
    if first:
        return "before the fault: " + first
    _wipe(path)
    for seed in (2, 3):  # every new request after the deletion, not only the first
        why = _served(_serve(store, seed), _keys(store), store_key([validate(TINY, seed=seed)]), seed == 3)
        if why:
            return why
    return ""


def fault_random_bytes(tmp: Path) -> str:
    from core.store import RunStore, store_key

    path = tmp / "random" / "runs.db"
    store = RunStore(path)
    _serve(store, 1)
    _wipe(path)
    path.write_bytes(os.urandom(16384))
    # Random bytes are not recognisably a run store, and the careful store never replaces a file it
    # cannot recognise as its own (it might be someone else's): it says so once and keeps serving,
    # training what it cannot read, without keeping anything until the file is removed or fixed.
    for seed in (2, 3):
        why = _served(_serve(store, seed), _keys(store), store_key([validate(TINY, seed=seed)]), False)
        if why:
            return why
    _wipe(path)  # fixed: the next run starts a fresh store and is kept
    return _served(_serve(store, 4), _keys(store), store_key([validate(TINY, seed=4)]), True)


def fault_damaged_page(tmp: Path, runs: int = 30) -> str:
    """One 4 KB page overwritten in a store of `runs` runs: the readable ones must stay listed,
    with a short warning."""
    from core.store import RunStore

    path = tmp / "damaged" / "runs.db"
    store = RunStore(path)
    doc = {"x": list(range(200))}
    for i in range(runs):
        store.put(f"{i:032x}", doc, {"title": f"run {i}"})
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek((size // 4096 // 2) * 4096)
        f.write(os.urandom(4096))
    try:
        again = RunStore(path)
        listed = again.list()
        said = " ".join(getattr(again, "warnings", []) or [])
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {str(e)[:70]}"
    if len(listed) < runs // 2:
        return f"{len(listed)} of {runs} runs still listed"
    if len(said) > 600:
        return f"a {len(said)}-character warning"
    return ""


def fault_foreign_file(tmp: Path, run_cli: Callable, verdict: Callable) -> str:
    """A file that is not a store (a mistyped --store): an error naming it, the file untouched."""
    folder = tmp / "foreign"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostname"
    path.write_text("myhost\n")
    before = (path.stat().st_ino, path.read_bytes(), sorted(os.listdir(folder)))
    code, out, err = run_cli(["runs", "list", "--store", str(path)])
    after = (path.stat().st_ino, path.read_bytes(), sorted(os.listdir(folder))) if path.exists() else None
    if after != before:
        return "the file was renamed or replaced"
    if code != 2:
        return f"exit {code} (expected 2 and one line)"
    return verdict(code, out, err, [])


def fault_read_only(tmp: Path, run_cli: Callable, verdict: Callable) -> str:
    """The CLI on a store it may only read: lists it (or says so in one line), no traceback.
    As root a folder's permissions stop nobody, so the CLI runs as the user nobody (setpriv)."""
    from core.store import RunStore

    folder = tmp / "readonly"
    store = RunStore(folder / "runs.db")
    store.put("a" * 32, {"x": 1}, {"title": "kept"})
    with sqlite3.connect(folder / "runs.db") as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    argv = ["runs", "list", "--store", str(folder / "runs.db")]
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            code, out, err = run_cli(argv)
        finally:
            os.chmod(folder, 0o755)
    else:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return ""  # cannot drop root here: nothing to try
        for p in (tmp, folder):
            os.chmod(p, 0o755)
        for p in folder.iterdir():
            os.chmod(p, 0o644)
        root = Path(__file__).resolve().parents[1]
        proc = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                               sys.executable, "-m", "core", *argv], cwd=root, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "HOME": str(tmp), "PYTHONPATH": str(root)})
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    why = verdict(code, out, err, [])
    if not why and code == 0 and "kept" not in out:
        why = "listed nothing"
    return why


def attack_faults(tmp: Path, quick: bool, run_cli: Callable, verdict: Callable) -> list:
    from bench.attack import Result

    tries = [("store deleted while serving", lambda: fault_deleted(tmp)),
             ("store overwritten with random bytes", lambda: fault_random_bytes(tmp)),
             ("one 4 KB page damaged", lambda: fault_damaged_page(tmp)),
             ("--store names a foreign file", lambda: fault_foreign_file(tmp, run_cli, verdict)),
             ("read-only store (CLI)", lambda: fault_read_only(tmp, run_cli, verdict))]
    out = []
    for label, fn in tries:
        try:
            why = fn()
        except Exception as e:  # noqa: BLE001 - the fault broke the attack itself: not handled
            why = f"{type(e).__name__}: {str(e)[:70]}"
        out.append(Result("faults", label, not why, why))
    return out
