"""Private torch ops: looked up once, each with a public fallback and one warning when it is missing.

The engine calls a few private ops for speed (torch._fused_adam_ and _fused_sgd_ in core.optim,
aten's threshold_backward in core.models). A torch release may rename or drop any of them; then
the engine must still run, with the same results, and say once what it uses instead.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

_warned: set[str] = set()


def private_op(owner: object, name: str) -> Callable | None:
    """owner.name (e.g. torch, "_fused_adam_") if this torch has it, else None."""
    try:
        return getattr(owner, name)
    except (AttributeError, RuntimeError):  # torch.ops namespaces raise AttributeError; be lenient
        return None


def warn_missing(op: str, instead: str) -> None:
    """One RuntimeWarning per process and op: `op` is missing, `instead` is used."""
    if op in _warned:
        return
    _warned.add(op)
    warnings.warn(f"{op} is not in torch {torch.__version__}: using {instead} instead", RuntimeWarning,
                  stacklevel=3)
