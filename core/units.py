"""The network, unit by unit: what each hidden unit computes over the input plane (2-D data).

For a grid over the data's plane, every hidden unit's output in eval mode (dropout off) and in
one train-mode pass. In the train-mode pass each unit is dropped or kept as a whole, for the
whole grid: one dropout draw per unit, as one training pass draws it for one input, so a dropped
unit is a blacked-out square and later layers see the network without it. Batch norm, if any,
uses its running statistics in both passes, so the two differ by the dropout mask only.

The draw comes from a stream of its own (`UNITS_STREAM`, not the training's or the measuring
one), so computing these pictures never changes a number the training produces.

Outputs are kept small: at most `MAX_UNITS` units per layer (the first ones), and each unit's
two maps as int8 with one float scale per unit (`quantize`), so that a stored run stays light.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from core.data import Dataset
from core.models import BatchedNet, SeedStreams
from core.stopping import chunk_starts

UNITS_GRID = 32   # grid points per side of each unit's picture
MAX_UNITS = 16    # units drawn per layer (the first ones): a 128-wide layer would be 128 squares
UNITS_STREAM = 3  # core.models: INIT, TRAIN, MEASURE are 0, 1, 2


def plane(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(gx, gy, points (n*n, 2)) over the data's extent plus a margin, as the boundary's grid."""
    pts = torch.cat([data.x_train, data.x_val])
    lo, hi = pts.min(0).values - 0.5, pts.max(0).values + 0.5
    gx = torch.linspace(float(lo[0]), float(hi[0]), n)
    gy = torch.linspace(float(lo[1]), float(hi[1]), n)
    return gx, gy, torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)


def unit_keep(net: BatchedNet, streams: SeedStreams, n_points: int) -> torch.Tensor | None:
    """Dropout multipliers (S, depth, n_points, width, 1), one draw per (seed, layer, unit) shared by
    every point: a unit is dropped or kept as a whole. None without dropout."""
    c = net.cfg
    if c.dropout == 0:
        return None
    one = streams.keep_mask(c.dropout, c.depth, 1, c.width, 1)  # (S, depth, 1, width, 1)
    return one.expand(net.S, c.depth, n_points, c.width, 1)


@torch.no_grad()
def unit_outputs(net: BatchedNet, points: torch.Tensor, streams: SeedStreams, max_units: int = MAX_UNITS,
                 between: Callable[[], None] | None = None) -> dict[str, np.ndarray]:
    """Each hidden unit's output over `points` (N, 2) in eval mode and in one train-mode pass.

    Returns float32 arrays: "eval" and "train" (S, layers, U, N) after the activation (and, in
    the train pass, after dropout: 0 or scaled by 1/(1-p)), "kept" (S, layers, U) bool, and the
    network's class-1 probability "out_eval", "out_train" (S, N) and predicted class "pred_eval"
    (S, N) int8; U = min(width, max_units). between() is called between two chunks of points
    (core.stopping: it may give the pictures up by raising)."""
    S, U = net.S, min(net.cfg.width, max_units)
    # Points are independent in these passes (eval-mode batch norm, a mask per unit), so they go
    # through in chunks: a recorded pass keeps z, a and d of every layer, 200 MB for 8 seeds x 1024
    # points x 512 units at once (bench.memcal's mlp-tiny-batch); a chunk keeps about CHUNK_VALUES.
    rows = max(16, CHUNK_VALUES // max(1, S * net.cfg.width * net.cfg.depth))
    keep = unit_keep(net, streams, 1)  # one draw per unit, whatever the chunks
    parts = [_unit_chunk(net, points[lo: lo + rows], keep, U) for lo in chunk_starts(len(points), rows, between)]
    out = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in ("eval", "train", "out_eval", "out_train",
                                                                      "pred_eval")}
    out["kept"] = np.ones((S, net.cfg.depth, U), bool) if keep is None else (keep[:, :, 0, :U, 0] > 0).numpy()
    return out


CHUNK_VALUES = 2**20  # values per recorded tensor in one chunk of unit_outputs (4 MB)


def _unit_chunk(net: BatchedNet, points: torch.Tensor, keep: torch.Tensor | None, U: int) -> dict[str, np.ndarray]:
    S, n = net.S, len(points)
    x = points.unsqueeze(0).expand(S, *points.shape)
    logits_e, ev = net.forward(x, train=False, record=True, update_bn=False)
    # train=False with a given mask: eval-mode batch norm, dropout applied (BatchedNet.forward)
    k = None if keep is None else keep[:, :, :1].expand(S, net.cfg.depth, n, net.cfg.width, 1)
    logits_t, tr = net.forward(x, train=False, keep=k, record=True, update_bn=False)

    def maps(layers: list) -> np.ndarray:  # (S, N, H, 1) per layer -> (S, L, U, N)
        return torch.stack([la.d[:, :, :U, 0].transpose(1, 2) for la in layers], 1).float().numpy()

    def p1(logits: torch.Tensor) -> np.ndarray:
        prob = torch.softmax(logits, -1)
        return prob[..., min(1, prob.shape[-1] - 1)].float().numpy()

    return {"eval": maps(ev), "train": maps(tr), "out_eval": p1(logits_e), "out_train": p1(logits_t),
            "pred_eval": logits_e.argmax(-1).to(torch.int8).numpy()}


def quantize(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two maps (..., N) as int8 with one shared scale per leading index: (qa, qb, scale); value =
    q * scale / 127. Shared, so a unit's eval and train pictures compare on one scale. A diverged
    seed's NaN and infinite values are drawn as 0 (blank), never cast: their int8 is undefined."""
    a, b = (np.where(np.isfinite(x), x, 0.0) for x in (a, b))
    scale = np.maximum(np.abs(a).max(-1), np.abs(b).max(-1)).astype(np.float32)
    div = np.where(scale > 0, scale, 1.0)[..., None] / 127.0
    return (np.round(a / div).astype(np.int8), np.round(b / div).astype(np.int8), scale)


def as_u8(p: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as uint8 (p * 255); a diverged seed's NaN as 0.5 (undecided)."""
    return np.round(np.nan_to_num(np.asarray(p, np.float32), nan=0.5) * 255).astype(np.uint8)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * (np.asarray(scale, np.float32)[..., None] / 127.0)


def units_artifact(net: BatchedNet, data: Dataset, streams: SeedStreams, grid: int = UNITS_GRID,
                   max_units: int = MAX_UNITS, between: Callable[[], None] | None = None) -> dict[str, Any]:
    """The stored form (RunResult.artifacts["units"]): grid axes, int8 maps (S, L, U, grid*grid)
    with their scales, the kept mask, the output probabilities as uint8 (p * 255), and the width
    so a picture can say how many units it leaves out."""
    gx, gy, pts = plane(data, grid)
    o = unit_outputs(net, pts, streams, max_units, between)
    q_eval, q_train, scale = quantize(o["eval"], o["train"])
    return {"x": gx.numpy(), "y": gy.numpy(), "eval": q_eval, "train": q_train, "scale": scale, "kept": o["kept"],
            "out_eval": as_u8(o["out_eval"]), "out_train": as_u8(o["out_train"]),
            "width": int(net.cfg.width), "dropout": float(net.cfg.dropout), "activation": net.cfg.activation}
