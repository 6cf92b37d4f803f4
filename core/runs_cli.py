"""`python -m core runs ...`: list, show, export and delete stored runs.

    runs [list] [--limit N]
    runs show KEY
    runs export KEY [--json PATH|-] [--csv PATH|-]
    runs delete KEY
    (each accepts --store PATH; default $RELU_LAB_STORE or <repo>/.data/runs.db)

KEY may be any unique prefix of a stored key (the 12 characters `list` shows are enough).
Exit codes: 0 ok; 2 bad usage, unknown key, ambiguous prefix or a store that cannot be opened;
1 a stored run that cannot be read or exported, or a file that cannot be written. Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from core.atomic import write_atomic
from core.store import RunStore, StoreError, default_path

# `run` and `runs` take the same --store, with the same words.
STORE_HELP = "run store file (default: $RELU_LAB_STORE or <repo>/.data/runs.db)"


class _Fail(Exception):
    def __init__(self, msg: str, code: int):
        super().__init__(msg)
        self.code = code


class StoreUnusable(Exception):
    """The store file cannot be opened or read (a folder, no permission, not ours to fix here)."""


def open_store(path: str | None, max_mb: float | None = None) -> RunStore:
    """RunStore(path), or StoreUnusable with one line naming the path (for `run` and `runs`).
    What opening found (a read-only store, a damaged one salvaged) is said once, on stderr."""
    # The commands print the store's warnings themselves: not a second time through logging's
    # last-resort handler (a server, which prints none, still logs them).
    store_log = logging.getLogger("core.store")
    if not store_log.handlers:
        store_log.addHandler(logging.NullHandler())
    events: list[str] = []
    try:
        store = RunStore(path, max_mb=max_mb, events=events)
    except StoreError as e:  # its message names the path: not a run store, cannot be created
        raise StoreUnusable(str(e)) from None
    except (OSError, sqlite3.Error) as e:
        raise StoreUnusable(f"store {path or default_path()}: {e}") from None
    for w in events:
        print(f"warning: {w}", file=sys.stderr)
    return store


def _parser() -> argparse.ArgumentParser:
    # --store is accepted both before and after the subcommand; SUPPRESS keeps the
    # subcommand's default from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, metavar="PATH", help=STORE_HELP)
    p = argparse.ArgumentParser(prog="python -m core runs", description="Stored experiment runs.",
                                parents=[common])
    sub = p.add_subparsers(dest="cmd")
    ls = sub.add_parser("list", parents=[common], help="newest runs first")
    ls.add_argument("--limit", type=int, default=200)
    sub.add_parser("show", parents=[common], help="summary and settings of one run").add_argument("key")
    ex = sub.add_parser("export", parents=[common], help="write a run as JSON and/or CSV")
    ex.add_argument("key")
    ex.add_argument("--json", metavar="PATH", help="the documented JSON export ('-' = stdout)")
    ex.add_argument("--csv", metavar="PATH", help="the long history table ('-' = stdout)")
    sub.add_parser("delete", parents=[common], help="remove one run").add_argument("key")
    return p


def main(argv: list[str]) -> int:
    argv = list(argv)
    if argv[:1] == ["runs"]:  # called with the whole `python -m core` argument list
        argv = argv[1:]
    p = _parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # argparse has printed usage + error (or --help); report, don't exit
        return int(e.code or 0)
    cmd = args.cmd or "list"
    if cmd == "export" and not (args.json or args.csv):
        print("error: export needs --json PATH and/or --csv PATH", file=sys.stderr)
        return 2
    try:
        store = open_store(getattr(args, "store", None))
        if cmd == "list":
            _list(store, getattr(args, "limit", 200))
            return 0
        key = _resolve(store, args.key)
        if cmd == "delete":
            if store.read_only:
                raise _Fail(f"the run store {store.path} is read-only: nothing was deleted", 1)
            if not store.delete(key):
                raise _Fail(f"no stored run with key {key!r}", 2)
            print(f"deleted {key}")
        elif cmd == "show":
            _show(key, _load(store, key), _summary(store, key))
        else:
            _export(key, _load(store, key), args.json, args.csv)
        return 0
    except _Fail as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except StoreUnusable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except sqlite3.Error as e:  # e.g. locked by another writer for longer than the busy timeout
        print(f"error: store {store.path}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _resolve(store: RunStore, prefix: str) -> str:
    try:
        return store.resolve(prefix)
    except KeyError as e:
        raise _Fail(e.args[0], 2) from None
    except ValueError as e:
        raise _Fail(str(e), 2) from None


def _load(store: RunStore, key: str) -> dict[str, Any]:
    events: list[str] = []
    doc = store.get(key, events)
    if doc is None:
        raise _Fail(f"run {key} cannot be read" + (f": {events[-1]}" if events else ""), 1)
    return doc


def _summary(store: RunStore, key: str) -> dict[str, Any]:
    return store.summary(key) or {"key": key}


def _fmt_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _fmt_seconds(x: Any) -> str:
    return f"{x:.1f}" if isinstance(x, (int, float)) else ""


def _list(store: RunStore, limit: int) -> None:
    rows = store.list(limit=limit)
    if not rows:
        print(f"no runs in {store.path}")
        return
    print(f"{'KEY':<12}  {'CREATED':<16}  {'STATUS':<8}  {'SECONDS':>8}  TITLE")
    for r in rows:
        title = str(r.get("title") or "")
        title = title if len(title) <= 60 else title[:57] + "..."
        print(f"{r['key'][:12]:<12}  {_fmt_time(r['created']):<16}  {str(r.get('status') or ''):<8}  "
              f"{_fmt_seconds(r.get('seconds')):>8}  {title}")


def _show(key: str, doc: dict[str, Any], summary: dict[str, Any]) -> None:
    # Reads the stored dict directly (no validation), so old runs still show after the schema moves on.
    print(f"key      {key}")
    if "created" in summary:
        print(f"created  {_fmt_time(summary['created'])}  ({summary['created_iso']})")
    skip = {"key", "created", "created_iso"}
    for k, v in summary.items():
        if k not in skip:
            print(f"{k:<8} {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    base = doc.get("base") or {}
    if base:
        print("settings:")
        for k, v in base.items():
            print(f"  {k:<14} {v}")
    for run in doc.get("runs") or []:
        cfg = run.get("config") or {}
        diff = {k: v for k, v in cfg.items() if base.get(k) != v}
        changes = ", ".join(f"{k}={v}" for k, v in diff.items()) or "base settings"
        print(f"variant {run.get('name', '?')}: {run.get('status', '?')}, {_fmt_seconds(run.get('seconds'))} s, "
              f"{changes}")


def _export(key: str, doc: dict[str, Any], json_path: str | None, csv_path: str | None) -> None:
    from core.results import Experiment  # numpy/pandas only for the command that needs them

    try:
        exp = Experiment.from_dict(doc)
        # Build everything before writing anything, so a run that fails to convert writes no file.
        payload = exp.export() if json_path else None
        frame = exp.to_frame() if csv_path else None
    except Exception as e:  # an old or damaged document: one line, not a traceback
        raise _Fail(f"run {key} cannot be exported: {type(e).__name__}: {e}", 1) from None
    if json_path:
        _write(json_path, lambda f: json.dump(payload, f, indent=1))
    if csv_path:
        _write(csv_path, lambda f: frame.to_csv(f, index=False))
    for p in (json_path, csv_path):
        if p and p != "-":
            print(f"wrote {p}", file=sys.stderr)


def _write(path: str, write: Callable[[IO[str]], Any]) -> None:
    """'-' is stdout; a file is written whole or not at all (core.atomic)."""
    if path == "-":
        write(sys.stdout)
    else:
        write_atomic(path, write)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
