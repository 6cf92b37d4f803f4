"""Optimizers for the batched networks: torch.optim's fused kernels, one call per step.

Adam: torch.optim.Adam(fused=True)'s arithmetic in one call per step.

torch.optim.Adam spends ~50 us of Python per step (parameter groups, state checks, a separate
step-counter kernel) around a fused kernel that takes ~12 us on the reference workload; with
2600 steps that bookkeeping cost more than a tenth of the run. This class calls the same
kernel (`torch._fused_adam_`) with the same arguments, so updates are bit for bit those of
torch.optim.Adam(fused=True) (tests/test_optim.py checks it), and keeps state torch.optim's way
(`state[p]["exp_avg"]`, `["exp_avg_sq"]`) so a diverged seed's slices can be zeroed.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


class _Fused:
    """What both optimizers share: a fixed list of parameters, set_to_none zero_grad, and the
    gradients a step needs (every parameter must have one)."""

    def __init__(self, params: list[Tensor]):
        self.params = list(params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

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
        self.state = {p: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)} for p in self.params}
        self._exp_avgs = [self.state[p]["exp_avg"] for p in self.params]
        self._exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in self.params]
        # One step counter for every parameter (they always step together); float32, as torch.optim's.
        self._step = torch.zeros((), dtype=torch.float32)
        self._steps = [self._step] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        grads = self._grads()
        self._step += 1
        torch._fused_adam_(self.params, grads, self._exp_avgs, self._exp_avg_sqs, [], self._steps,
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

    @torch.no_grad()
    def step(self) -> None:
        grads = self._grads()
        first = self.momentum != 0 and not self.state
        if first:  # the kernel fills them with the first gradients, as torch.optim does
            self.state = {p: {"momentum_buffer": torch.empty_like(g)} for p, g in zip(self.params, grads, strict=True)}
        bufs = [self.state[p]["momentum_buffer"] for p in self.params] if self.momentum != 0 else []
        torch._fused_sgd_(self.params, grads, bufs, weight_decay=self.weight_decay, momentum=self.momentum,
                          lr=self.lr, dampening=0.0, nesterov=False, maximize=False, is_first_step=first)
