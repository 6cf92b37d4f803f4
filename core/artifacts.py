"""Pictures of a trained run's final networks, as numbers (the page draws them; core.results keeps them).

The decision boundary over a grid (2-D data) or the confusion matrix (otherwise), and an on/off
raster of units by inputs over two train-mode passes and one eval pass.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from core.data import Dataset
from core.metrics import evaluate, probe_size, train_mode_passes
from core.models import BatchedNet, SeedStreams

BOUNDARY_GRID = 80
RASTER_INPUTS, RASTER_UNITS = 48, 64


def data_points(data: Dataset) -> dict[str, Any]:
    """The training and validation points the 2-D pictures draw over the boundary."""
    return {"x_train": data.x_train.numpy(), "y_train": data.y_train.numpy(),
            "x_val": data.x_val.numpy(), "y_val": data.y_val.numpy()}


@torch.no_grad()
def final_artifacts(net: BatchedNet, data: Dataset, gens: SeedStreams,
                    between: Callable[[], None] | None = None) -> dict[str, Any]:
    """Pictures of the final networks, as numbers: the decision boundary (2-D data) or the
    confusion matrix (otherwise), and an on/off raster of units by inputs over two train-mode
    passes and one eval pass. between() is called between their chunks and passes
    (core.stopping: it may give the pictures up by raising)."""
    between = between or _nothing
    arts: dict[str, Any] = {}
    if data.is_2d:
        pts = torch.cat([data.x_train, data.x_val])
        lo, hi = pts.min(0).values - 0.5, pts.max(0).values + 0.5
        gx = torch.linspace(float(lo[0]), float(hi[0]), BOUNDARY_GRID)
        gy = torch.linspace(float(lo[1]), float(hi[1]), BOUNDARY_GRID)
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
        prob = torch.softmax(evaluate(net, grid, between), -1)
        conf, pred = prob.max(-1)
        G = BOUNDARY_GRID
        arts["boundary"] = {
            "x": gx.numpy(), "y": gy.numpy(),
            "pred": pred.view(net.S, G, G).to(torch.int8).numpy(),
            "conf": conf.view(net.S, G, G).to(torch.float16).numpy(),
            # class-1 probability: the smooth picture for two classes
            "p1": prob[..., min(1, prob.shape[-1] - 1)].view(net.S, G, G).to(torch.float16).numpy(),
        }
        arts["points"] = data_points(data)
    else:
        pred = evaluate(net, data.x_val, between).argmax(-1)  # (S, N)
        C = data.n_classes
        conf = torch.zeros(net.S, C, C, dtype=torch.int64)
        for s in range(net.S):
            conf[s] = torch.bincount(data.y_val * C + pred[s], minlength=C * C).view(C, C)
        arts["confusion"] = conf.numpy()
    P = min(RASTER_INPUTS, probe_size(net, len(data.x_train)))
    xs = data.x_train[:P]
    between()
    r1, r2 = train_mode_passes(net, xs, gens)
    between()
    _, ev = net.forward(xs.unsqueeze(0).expand(net.S, *xs.shape), train=False, record=True)

    def onoff(t: torch.Tensor) -> torch.Tensor:  # (S, P, units, positions) -> (S, P, <=64 units)
        return (t > 0).flatten(2)[:, :, :RASTER_UNITS]

    arts["raster"] = torch.stack([torch.stack([onoff(a.d), onoff(b.d), onoff(e.a)], 1)
                                  for a, b, e in zip(r1, r2, ev, strict=False)], 1).numpy()  # (S, L, 3, P, U)
    return arts


def _nothing() -> None:
    pass


PER_SLICE = {"boundary": ("pred", "conf", "p1"), "confusion": None, "raster": None}  # None: the array itself


def slice_artifacts(arts: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    """The pictures of slices lo..hi of the network (one variant of a group, core.groups): every
    per-network array cut to those slices (copies, so a variant's pictures own their memory);
    what all slices share (the grid, the data points) as it is."""
    out: dict[str, Any] = {}
    for name, v in arts.items():
        keys = PER_SLICE.get(name, ())
        if keys is None:
            out[name] = v[lo:hi].copy()
        else:
            out[name] = {k: (x[lo:hi].copy() if k in keys else x) for k, x in v.items()} if keys else v
    return out
