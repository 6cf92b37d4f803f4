"""Command line: `python -m core run|presets|runs|sweep` (sweep: core.sweep_cli). Every settings field is a flag.

`run` keeps every finished run (ok or diverged) in the run store, under the key the page uses,
and serves an experiment that is already stored instead of training it: a heavy experiment
trained here is served instantly by the page. `--store PATH` picks the file, `--no-store`
neither reads nor writes it, `--retrain` trains again and replaces the stored copy. Identical
runs started in several processes train once: the first takes the experiment's claim in the
store (core.store.claims), the others wait for its result.

Bad input, or an output or store path that cannot be used, exits with code 2 and one line
naming the field or path, the value (cut) and what is allowed, before anything is trained;
output files are written whole (core.atomic) or not at all. Text from users (variant names of
stored runs, paths) is printed with control characters escaped (core.safetext.terminal).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from core.atomic import write_atomic
from core.config import FIELDS, Config, ConfigError, validate
from core.csvdata import DataError
from core.runs_cli import (
    STORE_HELP,
    OneLineParser,
    StoreUnusable,
    UsageError,
    check_writable,
    open_store,
    path_text,
)
from core.safetext import quiet_stdout, terminal

# (metric, column header, how a seed's per-layer figures become one number): the header says
# which layers it is. "final": the last epoch (scalars); "sum"/"mean": the last epoch summed or
# averaged over hidden layers; "L1": the last epoch's first hidden layer (as the page's mask
# figures); "total": summed over every layer and every epoch (each revival counts once).
SUMMARY = [("train_acc", "train acc", "final"), ("val_acc", "val acc", "final"), ("gap_acc", "gap acc", "final"),
           ("train_loss", "train loss", "final"), ("val_loss", "val loss", "final"),
           ("dead", "dead (all layers)", "sum"), ("revived", "revived (all layers+epochs)", "total"),
           ("zero_frac", "zero frac (mean of layers)", "mean"),
           ("mask_agreement", "mask agree L1", "L1"), ("mask_flip", "mask flip L1", "L1")]
MASK_FIGURES = ("mask_agreement", "mask_flip")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m core", description="ReLU-Dropout Lab engine")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=OneLineParser)
    run = sub.add_parser("run", help="train networks and print a summary")
    run.add_argument("--preset", help="start from a preset (see `python -m core presets`)")
    run.add_argument("--variant", help="with --preset: run only this variant")
    run.add_argument("--json", metavar="PATH", help="write config, status and full history as JSON")
    run.add_argument("--csv", metavar="PATH", help="write the history as a long CSV table")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_store_flags(run, "finished runs are kept there and an experiment already in it is served from it, not trained",
                    "train even if the experiment is stored; the new run replaces the stored one")
    add_setting_flags(run)
    sub.add_parser("presets", help="list the presets")
    sub.add_parser("runs", help="list, show or export stored runs", add_help=False)
    sub.add_parser("sweep", help="train a grid of settings × seeds (see `python -m core sweep --help`)",
                   add_help=False)
    return p


# ------------------------------------------------------------------ what `run` and `sweep` share
def add_store_flags(p: argparse.ArgumentParser, kept: str, retrain: str) -> None:
    """--store, --no-store and --retrain; `kept` ends --store's help, `retrain` is --retrain's."""
    p.add_argument("--store", metavar="PATH", help=f"{STORE_HELP}; {kept}")
    p.add_argument("--no-store", action="store_true", help="neither read nor write the run store")
    p.add_argument("--retrain", action="store_true", help=retrain)


def check_store_flags(args: argparse.Namespace) -> None:
    if args.no_store and (args.store or args.retrain):
        raise UsageError("--no-store cannot be combined with --store or --retrain")


def add_setting_flags(p: argparse.ArgumentParser) -> None:
    """Every settings field as a flag (core.config.FIELDS), None when not given."""
    for f in FIELDS:
        p.add_argument(f.flag, dest=f.name, metavar=f.type.__name__.upper(), default=None,
                       help=f"{f.help} [{f.allowed()}; default {_shown_default(f.default)}]")


def _shown_default(value: Any) -> str:
    """A default as it is typed on the command line: true/false, none for an empty path."""
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value == "" else str(value)


def setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, by field name."""
    return {f.name: getattr(args, f.name) for f in FIELDS if getattr(args, f.name) is not None}


def waiting_line(store, what: str) -> Callable[[str], None]:
    """A claim's on_wait: says once, on stderr, that another process trains this `what`."""
    said: list[str] = []

    def waiting(owner: str) -> None:
        if not said:
            said.append(owner)
            print(terminal(f"waiting: another process is training this {what} into the run store "
                           f"{path_text(store.path)} ({owner}); its result will be served here"), file=sys.stderr)
    return waiting


def say_warnings(events: list[str]) -> None:
    for w in events:
        print(f"warning: {terminal(w)}", file=sys.stderr)


def one_line_errors(command: Callable[[], int]) -> int:
    """Run a command; bad input (a field, a flag, a store or --data-path that cannot be used)
    exits 2 and a write that failed after its path was checked (disk full) 1, each as one line."""
    try:
        return command()
    except BrokenPipeError:  # the reader of standard output went away (`| head`): not an error
        quiet_stdout()
        return 0
    except (ConfigError, UsageError, StoreUnusable) as e:
        return _error(e, 2)
    except DataError as e:  # a --data-path file that cannot be used
        return _error(f"data-path: {e}", 2)
    except OSError as e:  # an output write that failed after its path was checked (disk full)
        return _error(f"{e.strerror or e}" + (f": {path_text(e.filename)}" if e.filename else ""), 1)


# ------------------------------------------------------------------ run
def resolve(args: argparse.Namespace) -> tuple[Config, dict[str, dict[str, Any]], str, str]:
    """Settings from preset + flags: returns (base, variants, title, preset name)."""
    from core.presets import PRESETS

    flags = setting_flags(args)
    if args.preset is None:
        if args.variant:
            raise UsageError("--variant needs --preset")
        return validate(flags), {"run": {}}, "", ""
    if args.preset not in PRESETS:
        raise ConfigError("preset", args.preset, ", ".join(PRESETS))
    pre = PRESETS[args.preset]
    base = validate({**pre.base, **flags})
    variants = dict(pre.variants) or {"run": {}}
    if args.variant is not None:
        if args.variant not in variants:
            raise ConfigError("variant", args.variant, ", ".join(variants))
        variants = {args.variant: variants[args.variant]}
    for name, ov in variants.items():  # fail before any training if a variant is invalid
        try:
            base.replace(**ov)
        except ConfigError as e:
            raise ConfigError(e.field, e.value, f"{e.allowed} (in variant {name!r})", e.reason) from None
    return base, variants, pre.title, pre.name


def per_seed(r, metric: str, how: str):
    """One number per seed (seeds,) for a summary column (see SUMMARY); NaN for a seed with none."""
    import warnings

    import numpy as np

    if how == "total":
        a = r.curve(metric)                                      # (seeds, epochs, layers)
        none = np.isnan(a).all(axis=(1, 2))
        return np.where(none, np.nan, np.nansum(a, axis=(1, 2)))
    v = r.final(metric)
    if how == "final":
        return v
    if how == "L1":
        return v[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN seed stays NaN
        return np.where(np.isnan(v).all(1), np.nan, np.nansum(v, 1) if how == "sum" else np.nanmean(v, 1))


def summary_table(exp) -> str:
    """Each variant's mean±std over seeds per SUMMARY column. Mask figures of an activation that is
    never off (sigmoid) read n/a, and a line under the table says why."""
    import numpy as np

    from core.registry import mask_note

    rows = [["variant", "status", "seconds"] + [label for _, label, _ in SUMMARY]]
    notes: list[str] = []
    for r in exp.runs:
        cells = [terminal(r.name), terminal(r.status), f"{r.seconds:.2f}"]
        note = mask_note(r.config.activation)
        if note and note not in notes:
            notes.append(note)
        for m, _, how in SUMMARY:
            if note and m in MASK_FIGURES:
                cells.append("n/a")
                continue
            v = per_seed(r, m, how) if r.epochs_done else np.array([np.nan])
            v = v[~np.isnan(v)]
            cells.append("-" if len(v) == 0 else f"{v.mean():.3f}±{v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"n/a = not applicable: {n}" for n in notes]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    base, variants, title, preset = resolve(args)
    check_store_flags(args)
    for path in (args.json, args.csv):
        if path:
            check_writable(path)
    configs = {n: base.replace(**ov) for n, ov in variants.items()}
    store = key = exp = None
    claim: Any = None
    if not args.no_store:
        from core.serve.limits import Limits
        from core.store import store_key

        key = store_key(list(configs.values()))  # the page's key: DataError for an unusable CSV
        store = open_store(args.store, max_mb=Limits.from_env().store_max_mb)
        if not args.retrain:
            exp, present = _stored(store, key)
            if not present:
                try:
                    exp, claim = _claim(store, key)
                except KeyboardInterrupt:
                    print("interrupted: nothing written", file=sys.stderr)
                    return 130
    if exp is not None:
        exp = _as_requested(exp, base, configs, title, preset)
        where = terminal(path_text(store.path))
        print(f"served from the run store {where} (key {key[:12]}): this exact experiment was trained "
              "before; --retrain trains it again, --no-store ignores the store", file=sys.stderr)
    else:
        with claim or contextlib.nullcontext():
            exp = _train(base, variants, title, preset, args.quiet)
            if exp is None:
                print("interrupted: nothing written", file=sys.stderr)
                return 130
            if store is not None:
                exp = _keep(store, key, exp)
    _report(exp, args)
    return 0


def _claim(store, key: str):
    """(stored Experiment, None) if another process trained it meanwhile, else (None, claim): the
    claim is ours to train under (released when training ends, kept alive while it lasts)."""
    from core.store import claim_or_wait

    events: list[str] = []
    try:
        turn = claim_or_wait(store, key, on_wait=waiting_line(store, "experiment"), events=events)
    except sqlite3.Error as e:  # e.g. locked by another writer for longer than the busy timeout
        raise StoreUnusable(f"store {path_text(store.path)}: {e}") from None
    say_warnings(events)
    if turn.doc is not None:
        exp = _experiment(turn.doc)
        if exp is not None:
            return exp, None
        return None, None  # a copy this engine cannot read: trained again, as by _stored
    return None, turn.claim.keep_alive()


def _stored(store, key: str):
    """(the stored Experiment or None, whether a copy is stored): a copy this engine cannot read
    is trained again."""
    events: list[str] = []
    try:
        doc = store.get(key, events)
    except sqlite3.Error as e:  # e.g. locked by another writer for longer than the busy timeout
        raise StoreUnusable(f"store {path_text(store.path)}: {e}") from None
    say_warnings(events)
    return (None, False) if doc is None else (_experiment(doc), True)


def _experiment(doc: dict):
    from core.results import Experiment

    try:
        return Experiment.from_dict(doc)
    except Exception as e:  # noqa: BLE001 - a document from an older engine, or a damaged one
        print(f"warning: the stored copy of this experiment cannot be read ({type(e).__name__}); "
              "training it again", file=sys.stderr)
        return None


def _as_requested(exp, base: Config, configs: dict[str, Config], title: str, preset: str):
    """A stored experiment shown as this request asked for it: its variant names, title and
    settings (equal but for a CSV's path, which the key leaves out), so the outputs are the same
    as if it had been trained now."""
    exp.base, exp.title, exp.preset = base, title, preset
    for r, (name, cfg) in zip(exp.runs, configs.items(), strict=True):
        r.name, r.config = name, cfg
    return exp


def _train(base: Config, variants: dict[str, dict[str, Any]], title: str, preset: str, quiet: bool):
    """The trained Experiment, with a progress bar on stderr; None if interrupted (Ctrl-C)."""
    from tqdm import tqdm

    from core.train import run_experiment

    total = sum(base.replace(**ov).epochs + 1 for ov in variants.values())
    bar = tqdm(total=total, unit="epoch", file=sys.stderr, disable=quiet, dynamic_ncols=True)

    def on_epoch(exp, vi, epoch):
        bar.set_description(exp.runs[vi].name)
        bar.update(1)

    try:
        return run_experiment(base, variants, on_epoch=on_epoch, title=title, preset=preset)
    except KeyboardInterrupt:
        return None
    finally:
        bar.close()


def _keep(store, key: str, exp):
    """Store a finished run (ok or diverged; never a stopped one) with the page's summary.

    Returns the experiment as stored, so that this run and every later one served from the
    store print the same numbers (the document rounds `seconds`)."""
    from core.results import Experiment
    from core.store import STORABLE, summarize

    doc = exp.to_dict()
    exp = Experiment.from_dict(doc)
    if exp.status not in STORABLE:
        print(f"not kept in the run store: the run was {exp.status}", file=sys.stderr)
        return exp
    events: list[str] = []
    try:
        kept = store.put(key, doc, summarize(exp), events)
    except (sqlite3.Error, OSError) as e:  # the results are still reported below
        print(terminal(f"warning: run store {path_text(store.path)}: this run could not be stored ({e})"),
              file=sys.stderr)
    else:
        if kept:
            print(terminal(f"kept in the run store {path_text(store.path)} (key {key[:12]})"), file=sys.stderr)
    say_warnings(events)
    return exp


def _report(exp, args: argparse.Namespace) -> None:
    # The files first: a reader that closes standard output early (`| head`) loses the table's
    # tail, never the results.
    if args.json:
        doc = exp.export()
        write_atomic(args.json, lambda fh: json.dump(doc, fh))
        print(terminal(f"wrote {path_text(args.json)}"), file=sys.stderr)
    if args.csv:
        write_atomic(args.csv, exp.to_csv)  # formula-like text cells made inert for spreadsheets
        print(terminal(f"wrote {path_text(args.csv)}"), file=sys.stderr)
    say_messages(exp)
    print(summary_table(exp))


def say_messages(exp) -> None:
    """Each variant's messages (divergence, fallbacks) on stderr, one line each, escaped."""
    for r in exp.runs:
        for msg in r.messages:
            print(terminal(f"{r.name}: {msg}"), file=sys.stderr)


def cmd_presets() -> int:
    from core.presets import PRESETS

    for p in PRESETS.values():
        print(f"{p.name:24s} {p.title}")
        print(f"{'':24s} variants: {', '.join(p.variants) or 'one run'}")
    return 0


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--lr -1e-3` -> `--lr=-1e-3`: argparse would read a value starting with '-' as a flag and
    say "expected one argument"; joined, the value reaches validation, which names the field."""
    flags = {f.flag for f in FIELDS}
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] not in flags \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    if argv and argv[0] == "runs":
        from core.runs_cli import main as runs_main
        return runs_main(argv[1:])
    if argv and argv[0] == "sweep":
        from core.sweep_cli import main as sweep_main
        return sweep_main(argv[1:])

    def command() -> int:
        args = build_parser().parse_args(argv)
        return cmd_presets() if args.cmd == "presets" else cmd_run(args)
    return one_line_errors(command)


def _error(e: Any, code: int) -> int:
    """Every error: one line (whatever the message holds), control characters escaped."""
    print(f"error: {terminal(e)}", file=sys.stderr)
    return code
