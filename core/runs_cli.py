"""`python -m core runs ...`: list, show, export and delete stored runs.

    runs [list] [--limit N]
    runs show KEY
    runs export KEY [--json PATH|-] [--csv PATH|-]
    runs delete KEY
    (each accepts --store PATH; default $RELU_LAB_STORE or <repo>/.data/runs.db)

KEY may be any unique prefix of a stored key (the 12 characters `list` shows are enough).
Exit codes: 0 ok; 2 bad usage or value, unknown key, ambiguous prefix, a store that cannot be
opened or an output path that cannot be written (checked before anything is written); 1 a stored
run that cannot be read or exported, or a write that fails midway (disk full). Errors are one line
on stderr. Stored text (titles, names, settings) is printed with control characters escaped.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.atomic import write_atomic
from core.numbers import NumberError, parse_number
from core.safetext import cut, quiet_stdout, shown, terminal
from core.store import RunStore, StoreError, default_location, is_url, open_run_store

# `run` and `runs` take the same --store, with the same words.
STORE_HELP = "run store file or postgresql:// URL (default: $RELU_LAB_STORE or <repo>/.data/runs.db)"
MAX_LIMIT = 100_000  # `runs list --limit`: beyond any store's size, and within SQLite's integers


class _Fail(Exception):
    def __init__(self, msg: str, code: int):
        super().__init__(msg)
        self.code = code


class StoreUnusable(Exception):
    """The store file cannot be opened or read (a folder, no permission, not ours to fix here)."""


class UsageError(Exception):
    """Bad usage or an unusable path: one line on stderr and exit code 2 (`run` and `runs`)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (UsageError), not the usage text and SystemExit."""

    def error(self, message: str):
        raise UsageError(message)


def path_text(path: Any) -> str:
    """A path for a message: the user's text, so cut like any other value."""
    return cut(str(path))


def open_store(path: str | None, max_mb: float | None = None) -> RunStore:
    """The run store at `path` (a file, or a postgresql:// URL; core.store.open_run_store), or
    StoreUnusable with one line naming it (for `run` and `runs`). What opening found (a
    read-only store, a damaged one salvaged) is said once, on stderr."""
    location = path or default_location()
    target = location if is_url(location) else Path(location).expanduser()
    # Only a regular file (or nothing yet) can be a store: never open, move aside or replace a
    # folder, a device such as /dev/null, or a pipe.
    if isinstance(target, Path) and os.path.lexists(target) and not target.is_file():
        raise StoreUnusable(f"store {path_text(target)}: not a regular file (a folder, device or pipe); "
                            "give the path of a run store file")
    # The commands print the store's warnings themselves: not a second time through logging's
    # last-resort handler (a server, which prints none, still logs them).
    store_log = logging.getLogger("core.store")
    if not store_log.handlers:
        store_log.addHandler(logging.NullHandler())
    events: list[str] = []
    try:
        store = open_run_store(target if isinstance(target, str) else str(target), max_mb=max_mb, events=events)
    except StoreError as e:  # its message names the path: not a run store, cannot be created
        raise StoreUnusable(terminal(str(e))) from None
    except (OSError, sqlite3.Error) as e:
        raise StoreUnusable(f"store {path_text(target)}: {e}") from None
    for w in events:
        print(f"warning: {terminal(w)}", file=sys.stderr)
    return store


def check_writable(path: str) -> None:
    """UsageError unless `path` can be written as a whole file: checked before any work, so a run
    is never trained (or a file half-made) for an output that cannot be kept."""
    target = os.path.realpath(path)  # the atomic writer replaces the file a symlink points to
    if os.path.isdir(target):
        raise UsageError(f"cannot write {path_text(path)}: it is a folder; give a file path")
    if os.path.lexists(target) and not os.path.isfile(target):
        raise UsageError(f"cannot write {path_text(path)}: not a regular file (a device or pipe); give a file path")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path_text(path)}: folder {path_text(folder)} does not exist")
    try:  # os.access says yes to root even where nothing can be created (/proc, a read-only mount)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
    except OSError as e:
        raise UsageError(f"cannot write {path_text(path)}: folder {path_text(folder)} is not writable "
                         f"({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def count_arg(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number from lo to hi, read by the one number parser."""
    def parse(text: str) -> int:
        try:
            n = parse_number(text, int)
        except NumberError as e:
            raise argparse.ArgumentTypeError(f"{shown(text)} is not allowed ({e.reason}); "
                                             f"allowed: an integer from {lo} to {hi}") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{shown(text)} is not allowed; allowed: an integer from {lo} to {hi}")
        return n
    return parse


def _parser() -> argparse.ArgumentParser:
    # --store is accepted both before and after the subcommand; SUPPRESS keeps the
    # subcommand's default from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, metavar="PATH", help=STORE_HELP)
    p = OneLineParser(prog="python -m core runs", description="Stored experiment runs.", parents=[common])
    sub = p.add_subparsers(dest="cmd", parser_class=OneLineParser)
    ls = sub.add_parser("list", parents=[common], help="newest runs first")
    ls.add_argument("--limit", type=count_arg(1, MAX_LIMIT), default=200, help=f"at most this many (1 to {MAX_LIMIT})")
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
    except SystemExit as e:  # --help has been printed
        return int(e.code or 0)
    except UsageError as e:
        return _error(e, 2)
    cmd = args.cmd or "list"
    if cmd == "export" and not (args.json or args.csv):
        return _error("export needs --json PATH and/or --csv PATH", 2)
    store = None
    try:
        for out in (getattr(args, "json", None), getattr(args, "csv", None)):
            if out and out != "-":
                check_writable(out)
        store = open_store(getattr(args, "store", None))
        if cmd == "list":
            _list(store, getattr(args, "limit", 200))
            return 0
        key = _resolve(store, args.key)
        if cmd == "delete":
            if store.read_only:
                raise _Fail(f"the run store {path_text(store.path)} is read-only: nothing was deleted", 1)
            if not store.delete(key):
                raise _Fail(f"no stored run with key {shown(key)}", 2)
            print(f"deleted {terminal(key)}")
        elif cmd == "show":
            _show(key, _load(store, key), _summary(store, key))
        else:
            _export(key, _load(store, key), args.json, args.csv)
        return 0
    except BrokenPipeError:  # `runs list | head`: the reader had what it wanted
        quiet_stdout()
        return 0
    except _Fail as e:
        return _error(e, e.code)
    except (StoreUnusable, UsageError) as e:
        return _error(e, 2)
    except sqlite3.Error as e:  # e.g. locked by another writer for longer than the busy timeout
        return _error(f"store {path_text(store.path) if store else '?'}: {e}", 1)
    except OSError as e:  # a write that failed after the path was checked (disk full)
        return _error(f"{e.strerror or e}" + (f": {path_text(e.filename)}" if e.filename else ""), 1)


def _error(e: Any, code: int) -> int:
    """Every error: one line (whatever the message holds), control characters escaped."""
    print(f"error: {terminal(e)}", file=sys.stderr)
    return code


def _resolve(store: RunStore, prefix: str) -> str:
    if len(prefix) > 64 or not prefix.isascii() or not prefix.isalnum():  # keys are 32 hex digits
        raise _Fail(f"no stored run with key {shown(prefix)}", 2)
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


def _say(line: str) -> None:
    """Stored text may come from anyone (a URL-given variant name, an older engine): a terminal
    must show it, never obey it."""
    print(terminal(line))


def _list(store: RunStore, limit: int) -> None:
    rows = store.list(limit=limit)
    if not rows:
        _say(f"no runs in {store.path}")
        return
    _say(f"{'KEY':<12}  {'CREATED':<16}  {'KIND':<5}  {'STATUS':<8}  {'SECONDS':>8}  TITLE")
    for r in rows:
        title = str(r.get("title") or "")
        title = title if len(title) <= 60 else title[:57] + "..."
        kind = "sweep" if r.get("kind") == "sweep" else "run"  # core.sweep marks its summaries
        _say(f"{r['key'][:12]:<12}  {_fmt_time(r['created']):<16}  {kind:<5}  {str(r.get('status') or ''):<8}  "
              f"{_fmt_seconds(r.get('seconds')):>8}  {title}")


def _show(key: str, doc: dict[str, Any], summary: dict[str, Any]) -> None:
    # Reads the stored dict directly (no validation), so old runs still show after the schema moves on.
    _say(f"key      {key}")
    if "created" in summary:
        _say(f"created  {_fmt_time(summary['created'])}  ({summary['created_iso']})")
    skip = {"key", "created", "created_iso"}
    for k, v in summary.items():
        if k not in skip:
            _say(f"{k:<8} {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    base = doc.get("base") or {}
    if base:
        _say("settings:")
        for k, v in base.items():
            _say(f"  {k:<14} {v}")
    for run in doc.get("runs") or []:
        cfg = run.get("config") or {}
        diff = {k: v for k, v in cfg.items() if base.get(k) != v}
        changes = ", ".join(f"{k}={v}" for k, v in diff.items()) or "base settings"
        _say(f"variant {run.get('name', '?')}: {run.get('status', '?')}, {_fmt_seconds(run.get('seconds'))} s, "
              f"{changes}")


def _export(key: str, doc: dict[str, Any], json_path: str | None, csv_path: str | None) -> None:
    from core.results import Experiment  # numpy/pandas only for the command that needs them

    try:
        exp = Experiment.from_dict(doc)
        # Build everything before writing anything, so a run that fails to convert writes no file.
        payload = exp.export() if json_path else None
        table = exp.to_csv() if csv_path else None
    except Exception as e:  # an old or damaged document: one line, not a traceback
        raise _Fail(f"run {key} cannot be exported: {type(e).__name__}: {e}", 1) from None
    if json_path:
        _write(json_path, lambda f: json.dump(payload, f, indent=1))
    if csv_path:
        _write(csv_path, lambda f: f.write(table))
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
