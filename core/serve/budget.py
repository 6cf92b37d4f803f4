"""The work and memory budget of one experiment, and the advice that comes with a refusal.

`check_budget(configs, limits)` refuses a run before any training with one sentence that says
how big it is, what is allowed and which settings to reduce, biggest factor first (measured
against the settings' defaults), with a value that fits when one setting alone can make it fit.
The figures come from core.cost, which computes them from the engine's own constants.

Locally (Limits.ask_first) the work budget and half the memory limit are a question, not a
refusal: `check_budget(..., confirmed=False)` raises NeedsConfirmation with the run's `Estimate`,
and only `confirmed=True` passes them. The memory limit itself is never passed, confirmed or not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from core.config import DEFAULTS, FIELD, Config
from core.cost import estimate_memory_mb, estimate_seconds, longest_piece, memory_bytes, work
from core.cost import examples as _examples
from core.serve.errors import BudgetError, NeedsConfirmation
from core.serve.limits import Limits, sci

# How a setting compares with its usual value decides which ones a message suggests reducing.
_WORK_FACTORS = ("epochs", "n_samples", "width", "depth", "seeds")
_MEMORY_FACTORS = ("width", "seeds", "depth", "batch", "epochs")  # weights grow with width squared
# With a time limit, no piece of a run that cannot be stopped midway (core.cost.longest_piece)
# may take longer than this: the engine asks should_stop between pieces (core.train), and the
# deadline stops a run one piece early (core.serve.deadline), so a run ends within about this
# long of its limit. Estimated at core.cost.MACS_PER_S, about half what one core manages.
MAX_PIECE_S = 1.0
_PIECES = {"step": ("training step", ("width", "batch", "seeds", "depth")),
           "measurement": ("measurement of every example (after every epoch)", ("width", "n_samples", "seeds", "depth")),
           "pictures": ("drawing of the final pictures", ("width", "seeds", "depth"))}


def _ratio(cfg: Config, name: str, square_width: bool = False) -> float:
    if name == "batch":
        n = _examples(cfg)
        n_train = n - max(1, round(n * cfg.val_fraction))
        return min(cfg.batch_size or n_train, n_train) / DEFAULTS.batch_size
    value = _examples(cfg) if name == "n_samples" else getattr(cfg, name)
    ratio = value / (_examples(DEFAULTS) if name == "n_samples" else getattr(DEFAULTS, name))  # n_samples 0 = all
    return ratio * ratio if square_width and name == "width" and ratio > 1 else ratio


def _factor_text(cfg: Config, name: str) -> str:
    if name == "batch":
        if cfg.batch_size == 0:
            return f"batch_size (0 = all {_examples(cfg)} examples at once)"
        return f"batch_size ({cfg.batch_size})"
    if name == "n_samples" and cfg.dataset == "csv":
        return f"the rows of the CSV file ({_examples(cfg)})"
    return f"{name} ({_examples(cfg) if name == 'n_samples' else getattr(cfg, name)})"


def _reduce_list(cfg: Config, names: tuple[str, ...], n_variants: int, fit: str = "",
                 square_width: bool = False) -> str:
    def ratio(n: str) -> float:
        return _ratio(cfg, n, square_width)

    ranked = sorted((n for n in names if ratio(n) > 1), key=lambda n: -ratio(n))[:3]
    if not ranked:  # everything is at its usual size or below: name the largest anyway
        ranked = sorted(names, key=lambda n: -ratio(n))[:2]
    items = [_factor_text(cfg, n) for n in ranked]
    if fit:
        items[0] = items[0][:-1] + f"; at most {fit} fits)"
    if n_variants > 1 and len(items) < 3:
        items.append(f"the number of variants ({n_variants})")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


@dataclass(frozen=True)
class Estimate:
    """What a run would cost, against the limits it is over (for a confirmation)."""

    work: int
    memory_mb: float
    seconds: float
    limits: Limits
    refused: str | None = None  # the memory limit's refusal: no confirmation starts this run
    piece_s: float = 0.0        # the longest stretch a Stop press must wait for (core.cost.longest_piece)

    @property
    def over(self) -> list[str]:
        """What this run is over, in words."""
        lim, out = self.limits, []
        if lim.max_work is not None and self.work > lim.max_work:
            out.append(f"{sci(self.work)} units of work (the budget is {sci(lim.max_work)})")
        ask = lim.ask_memory_mb
        if ask is not None and self.memory_mb > ask:
            out.append(f"about {size_text(self.memory_mb)} of memory (runs over {size_text(ask)} ask first"
                       + (f", none may pass {size_text(lim.max_memory_mb)}" if lim.max_memory_mb is not None else "") + ")")
        return out

    def sentence(self) -> str:
        over = " and ".join(self.over) or "nothing"
        slow = (f" A Stop press may wait up to about {duration_text(self.piece_s)} (the longest piece of it that "
                "cannot be cut)." if self.piece_s > MAX_PIECE_S else "")
        return (f"This run is over the budget of this machine: {over}; it would take about "
                f"{duration_text(self.seconds)} on one core.{slow}"
                + (" Nothing is trained until you confirm." if self.refused is None else ""))


def size_text(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def duration_text(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} days"


def estimate(configs: list[Config], limits: Limits) -> Estimate:
    """The figures of this run (core.cost) and, when it is over the memory limit, the refusal."""
    refused = None
    if limits.max_memory_mb is not None:
        try:
            _check_memory(configs, limits)
        except BudgetError as e:
            refused = str(e)
    return Estimate(work(configs), estimate_memory_mb(configs), estimate_seconds(configs), limits, refused,
                    longest_piece(configs)[2])


def check_budget(configs: list[Config], limits: Limits, confirmed: bool = False) -> None:
    """Raise BudgetError (one sentence) if the experiment exceeds the work or memory limit.

    With limits.ask_first (local): a run over the work budget or over half the memory limit
    raises NeedsConfirmation unless `confirmed`; the memory limit is a refusal either way."""
    if not configs:
        return
    if limits.ask_first:
        est = estimate(configs, limits)
        if est.over and not confirmed:
            raise NeedsConfirmation(est.sentence() if est.refused is None else est.refused, est)
        limits_now = replace(limits, max_work=None)  # confirmed (or under it): the work budget is passed
    else:
        limits_now = limits
    _check(configs, limits_now)


def _check(configs: list[Config], limits: Limits) -> None:
    biggest = max(configs, key=lambda c: work([c]))
    over = f", over {len(configs)} variants" if len(configs) > 1 else ""
    where = "the hosted demo allows" if limits.hosted else "the limit is"
    if limits.max_work is not None:
        total = work(configs)
        if total > limits.max_work:
            fit = ""
            top = max(_WORK_FACTORS, key=lambda n: _ratio(biggest, n))
            if top != "n_samples" or biggest.dataset != "csv":
                value = _examples(biggest) if top == "n_samples" else getattr(biggest, top)
                best = math.floor(value * limits.max_work / total)
                if best >= max(1, FIELD[top].nonzero_lo or FIELD[top].lo or 0, value // 10):  # else one factor alone is no answer
                    fit = str(best)
            raise BudgetError(
                f"This run is {sci(total)} units of work (epochs × samples × width × depth × seeds{over}); "
                f"{where} {sci(limits.max_work)}, {total / limits.max_work:,.1f} times less. "
                f"Reduce {_reduce_list(biggest, _WORK_FACTORS, len(configs), fit)}.")
    _check_memory(configs, limits)
    _check_pieces(configs, limits)


def _check_memory(configs: list[Config], limits: Limits) -> None:
    over = f", over {len(configs)} variants" if len(configs) > 1 else ""
    where = "the hosted demo allows" if limits.hosted else "this machine's limit (RELU_LAB_MAX_MEMORY_MB) is"
    if limits.max_memory_mb is not None:
        mb = estimate_memory_mb(configs)
        if mb > limits.max_memory_mb:
            heavy = max(configs, key=lambda c: sum(memory_bytes(c)))
            factors = _MEMORY_FACTORS if heavy.epochs else tuple(f for f in _MEMORY_FACTORS if f != "batch")
            size = f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
            raise BudgetError(
                f"This run needs about {size} of memory (for its networks, their activations and the "
                f"per-epoch history it records{over}); {where} {limits.max_memory_mb} MB per run. "
                f"Reduce {_reduce_list(heavy, factors, len(configs), square_width=True)}.")


def _check_pieces(configs: list[Config], limits: Limits) -> None:
    where = "the hosted demo allows" if limits.hosted else "the limit is"
    if limits.max_seconds is not None:
        piece, cfg, seconds = longest_piece(configs)
        if seconds > MAX_PIECE_S:
            what, factors = _PIECES[piece]
            raise BudgetError(
                f"One {what} of this run would take about {seconds:.1f} s, and a run can only be stopped between "
                f"two such pieces; to stop every run within its {limits.max_seconds:g} s limit, {where} "
                f"{MAX_PIECE_S:g} s per piece. Reduce {_reduce_list(cfg, factors, 1, square_width=True)}.")


def check_sweep_budget(sweep, limits: Limits) -> None:
    """Raise BudgetError if a whole sweep (core.sweep.Sweep: every point, every seed) is over the
    work limit, with the advice a sweep can take: fewer seeds, fewer points or fewer epochs, and
    how many seeds would fit; then the memory and time rules of check_budget over its points."""
    configs = sweep.configs()
    if not configs:
        return
    where = "the hosted demo allows" if limits.hosted else "the limit is"
    if limits.max_work is not None:
        total = work(configs)
        if total > limits.max_work:
            seeds, points = sweep.base.seeds, len(configs)
            epochs = max(c.epochs for c in configs)
            fit_seeds = math.floor(seeds * limits.max_work / total)
            fit = f"; at most {fit_seeds} fit" if fit_seeds >= 1 else ""
            raise BudgetError(
                f"This sweep is {sci(total)} units of work (epochs × samples × width × depth, over {points} "
                f"points × {seeds} seeds = {sweep.networks} networks); {where} {sci(limits.max_work)}. "
                f"Reduce the seeds ({seeds}{fit}), the points ({points}: fewer values in a grid) or the epochs "
                f"({epochs}).")
    check_budget(configs, limits)
