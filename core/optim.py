"""Optimizers for the batched networks: torch.optim's fused kernels, one call per step.

Adam: torch.optim.Adam(fused=True)'s arithmetic in one call per step.

torch.optim.Adam spends ~50 us of Python per step (parameter groups, state checks, a separate
step-counter kernel) around a fused kernel that takes ~12 us on the reference workload; with
2600 steps that bookkeeping cost more than a tenth of the run. This class calls the same
kernel (`torch._fused_adam_`) with the same arguments, so updates are bit for bit those of
torch.optim.Adam(fused=True) (tests/test_optim.py checks it), and keeps state torch.optim's way
(`state[p]["exp_avg"]`, `["exp_avg_sq"]`) so a diverged seed's slices can be zeroed.

Where this torch lacks the private kernel (core.fallback), the optimizer hands its steps to
torch.optim's own class instead, with one warning: fused=True where that works here (the same
arithmetic, bit for bit), else foreach=True (the same arithmetic up to rounding).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import torch

from core.fallback import private_op, warn_missing

if TYPE_CHECKING:
    from core.config import Config

Tensor = torch.Tensor

FUSED_ADAM = private_op(torch, "_fused_adam_")
FUSED_SGD = private_op(torch, "_fused_sgd_")


def make_optimizer(cfg: Config, params: list[Tensor]) -> Adam | SGD:
    """The optimizer cfg.optimizer names (core.registry.OPTIMIZERS), over a fixed list of parameters.
    Every update is elementwise, so stacked seeds are updated exactly as separate ones."""
    from core.registry import OPTIMIZERS  # imported here: the registry points at this module's classes
    return OPTIMIZERS[cfg.optimizer].make(cfg, params)


def make_sliced_optimizer(parts: Sequence[tuple[int, int, Config]], params: list[Tensor]) -> Adam | SGD | Sliced:
    """Variants as slices of one network (core.slices): slices lo..hi of every parameter are
    updated as cfg says (its optimizer, learning rate, weight decay). One part: make_optimizer."""
    if len(parts) == 1:
        return make_optimizer(parts[0][2], params)
    return Sliced(parts, params)


@cache
def _stock_fused_works(cls: type[torch.optim.Optimizer]) -> bool:
    """Whether torch.optim's cls(fused=True) steps on CPU in this torch: tried once, on a scratch tensor
    (it may call the very op that is missing)."""
    p = torch.zeros(1, requires_grad=True)
    p.grad = torch.zeros(1)
    try:
        cls([p], lr=0.1, fused=True).step()
    except (RuntimeError, AttributeError, TypeError, ValueError):
        return False
    return True


def _stock(cls: type[torch.optim.Optimizer], op: str, params: list[Tensor], **hyper) -> torch.optim.Optimizer:
    """torch.optim's cls in place of the missing private `op`, fused where it works, else foreach."""
    how = {"fused": True} if _stock_fused_works(cls) else {"foreach": True}
    warn_missing(f"torch.{op}", f"torch.optim.{cls.__name__}({', '.join(f'{k}={v}' for k, v in how.items())})")
    return cls(params, **hyper, **how)


class _Fused:
    """What both optimizers share: a fixed list of parameters, set_to_none zero_grad, and the
    gradients a step needs (every parameter must have one)."""

    def __init__(self, params: list[Tensor]):
        self.params = list(params)
        self._stock: torch.optim.Optimizer | None = None  # torch.optim's, where the private kernel is missing

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = self._grads()
        if self._stock is not None:  # torch.optim's, where the private kernel is missing
            self._stock.step()
        else:
            self._fused_step(grads)

    def _fused_step(self, grads: list[Tensor]) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def zero_slice(self, i: int, params: Sequence[Tensor] | None = None) -> None:
        """Zero slice i of every state tensor (a retired seed: its momentum must not move it), of
        `params` only if given."""
        for p in self.params if params is None else params:
            for v in self.state.get(p, {}).values():
                if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == p.shape[0]:
                    v[i] = 0.0

    def _grads(self) -> list[Tensor]:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise RuntimeError(f"{type(self).__name__}.step: every parameter needs a gradient")
        return grads


class Adam(_Fused):
    """Adam (L2 weight decay added to the gradient, as torch.optim.Adam) over a fixed list of parameters."""

    def __init__(self, params: list[Tensor], lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        if FUSED_ADAM is None:
            self._stock = _stock(torch.optim.Adam, "_fused_adam_", self.params, lr=lr, betas=betas, eps=eps,
                                 weight_decay=weight_decay)
            self.state = self._stock.state  # torch.optim's keys: exp_avg, exp_avg_sq (and step)
            return
        self.state = {p: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)} for p in self.params}
        self._exp_avgs = [self.state[p]["exp_avg"] for p in self.params]
        self._exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in self.params]
        # One step counter for every parameter (they always step together); float32, as torch.optim's.
        self._step = torch.zeros((), dtype=torch.float32)
        self._steps = [self._step] * len(self.params)

    def _fused_step(self, grads: list[Tensor]) -> None:
        self._step += 1
        FUSED_ADAM(self.params, grads, self._exp_avgs, self._exp_avg_sqs, [], self._steps,
                   lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
                   eps=self.eps, amsgrad=False, maximize=False)


class SGD(_Fused):
    """SGD, with optional momentum (L2 weight decay added to the gradient), as
    torch.optim.SGD(fused=True): the same kernel (`torch._fused_sgd_`) with the same arguments, so
    updates are bit for bit the same (tests/test_optim.py). Besides the per-step Python, this
    skips torch.optim's first use, which imports torch._dynamo (about a second)."""

    def __init__(self, params: list[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.state: dict[Tensor, dict[str, Tensor]] = {}  # momentum buffers, from the first step on
        if FUSED_SGD is None:
            self._stock = _stock(torch.optim.SGD, "_fused_sgd_", self.params, lr=lr, momentum=momentum,
                                 weight_decay=weight_decay)
            self.state = self._stock.state

    def _fused_step(self, grads: list[Tensor]) -> None:
        first = self.momentum != 0 and not self.state
        if first:  # the kernel fills them with the first gradients, as torch.optim does
            self.state = {p: {"momentum_buffer": torch.empty_like(g)} for p, g in zip(self.params, grads, strict=True)}
        bufs = [self.state[p]["momentum_buffer"] for p in self.params] if self.momentum != 0 else []
        FUSED_SGD(self.params, grads, bufs, weight_decay=self.weight_decay, momentum=self.momentum,
                  lr=self.lr, dampening=0.0, nesterov=False, maximize=False, is_first_step=first)


class Sliced:
    """Variants' slices of the stacked parameters, each variant updated with its own settings.

    Variants next to each other with the same optimizer, learning rate and weight decay share
    one fused call (core.optim's Adam or SGD over views `p.detach()[lo:hi]`: leaves that share
    the parameters' memory, handed the matching views of the gradients). A fused kernel rounds
    the short tail of each tensor it is given (fewer elements than a vector) on another path
    than the body, and Adam's two paths differ in the last bit. A tensor whose slices have a
    multiple of ALIGN elements has no tail inside any variant's part, so it is handed over for
    all those variants at once; any other (an output bias of 2 numbers a slice) is handed over
    variant by variant, in the same call, so each variant's part is cut exactly as alone. Every
    slice is then updated bit for bit as its variant alone (tests/test_optim.py)."""

    ALIGN = 64  # elements; no CPU vector is wider

    def __init__(self, parts: Sequence[tuple[int, int, Config]], params: list[Tensor]):
        self.params = list(params)
        self.calls: list[tuple[Adam | SGD, list[tuple[int, int, int]]]] = []  # (optimizer, [(param, lo, hi)])
        runs: list[list[tuple[int, int, Config]]] = []
        for part in parts:
            if runs and _settings(runs[-1][-1][2]) == _settings(part[2]):
                runs[-1].append(part)
            else:
                runs.append([part])
        for run in runs:
            spans = []
            for j, p in enumerate(self.params):
                if p[0].numel() % self.ALIGN == 0:
                    spans.append((j, run[0][0], run[-1][1]))
                else:
                    spans += [(j, lo, hi) for lo, hi, _ in run]
            views = [self.params[j].detach()[lo:hi] for j, lo, hi in spans]
            self.calls.append((make_optimizer(run[0][2], views), spans))

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise RuntimeError("Sliced.step: every parameter needs a gradient")
        for opt, spans in self.calls:
            for v, (j, lo, hi) in zip(opt.params, spans, strict=True):
                v.grad = grads[j][lo:hi]
            opt.step()

    def zero_slice(self, i: int) -> None:
        for opt, spans in self.calls:
            for v, (_, lo, hi) in zip(opt.params, spans, strict=True):
                if lo <= i < hi:
                    opt.zero_slice(i - lo, [v])


def _settings(cfg: Config) -> tuple:
    return cfg.optimizer, cfg.lr, cfg.weight_decay
