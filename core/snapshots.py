"""Pictures taken while a run trains, so the page can show it learn live and replay it later.

`Snapshots(cfg, data)` is called by the training loop after each measured epoch
(`take(epoch, net, res)`); at the epochs of its schedule (at most `MAX_SNAPSHOTS`, spread evenly
over the run, first and last included) it draws, for the first seed, the decision boundary and
every drawn unit's picture over a small grid (core.units) and an on/off raster, and puts them
into `res.artifacts["snapshots"]` (a new dict each time: a reader holding the old one is never
written under). At the end `units(net)` draws the final unit pictures of every seed and
`finish(res, units)` puts them beside the snapshots (`res.artifacts["units"]`); a run stopped at
its time limit keeps its snapshots only (`finish(res, None)`, core.train).

Both drawings take a `between` hook, called between chunks of grid points (core.stopping): it may
give them up by raising, and then nothing of them is kept.

Its dropout draws come from streams of its own, and its passes never update batch-norm
statistics: training's numbers are the same to the last bit with snapshots on or off (tested).
Cost: a few small forward passes per snapshot (`python -m bench.snapshots` prints the share).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from core.config import Config
from core.data import Dataset
from core.metrics import train_mode_passes
from core.models import BatchedNet, SeedStreams
from core.units import MAX_UNITS, UNITS_STREAM, as_u8, plane, quantize, unit_outputs, units_artifact

MAX_SNAPSHOTS = 24
SNAP_GRID = 24                     # grid side of a snapshot's boundary and unit pictures
SNAP_INPUTS, SNAP_UNITS = 32, 32   # a snapshot's raster: inputs x units of each layer
SNAP_STREAM = 4                    # the snapshots' own dropout draws (core.units uses 3)
ENABLED = True                     # the equality tests switch it off to compare


def schedule(epochs: int, most: int = MAX_SNAPSHOTS) -> list[int]:
    """The epochs to snapshot: evenly spread over 0..epochs, 0 and the last included, at most `most`."""
    return sorted({int(round(e)) for e in np.linspace(0, epochs, min(most, epochs + 1))})


class Snapshots:
    """Takes the pictures of one run (2-D data only; for other data it does nothing)."""

    def __init__(self, cfg: Config, data: Dataset, most: int = MAX_SNAPSHOTS, enabled: bool | None = None,
                 lo: int = 0, hi: int | None = None):
        self.on = (ENABLED if enabled is None else enabled) and data.is_2d and cfg.model == "mlp"
        self.cfg, self.data = cfg, data
        self.lo, self.hi = lo, (lo + cfg.seeds if hi is None else hi)  # this run's slices of the network
        self.when = set(schedule(cfg.epochs, most))
        if self.on:
            self.gx, self.gy, self.points = plane(data, SNAP_GRID)
            first = cfg.seed_list[:1]
            self.unit_streams = SeedStreams(first, SNAP_STREAM)
            self.raster_streams = SeedStreams(first, SNAP_STREAM + 1)
            self.probe = data.x_train[:SNAP_INPUTS]
        self.taken: list[dict[str, np.ndarray]] = []
        self.epochs: list[int] = []

    def take(self, epoch: int, net: BatchedNet, res: Any, between: Callable[[], None] | None = None) -> None:
        """Snapshot the first seed now if `epoch` is on the schedule; publish the snapshots so far."""
        self.keep(epoch, self.draw(epoch, net, between), res)

    @torch.no_grad()
    def draw(self, epoch: int, net: BatchedNet, between: Callable[[], None] | None = None) -> dict[str, Any] | None:
        """The snapshot of `epoch` (None if it is not on the schedule), not yet kept."""
        if not self.on or epoch not in self.when:
            return None
        one = part(net, self.cfg, self.lo, self.lo + 1)
        o = unit_outputs(one, self.points, self.unit_streams, between=between)
        q_eval, q_train, scale = quantize(o["eval"][0], o["train"][0])
        r1, r2 = train_mode_passes(one, self.probe, self.raster_streams)
        _, ev = one.forward(self.probe.unsqueeze(0), train=False, record=True, update_bn=False)

        def onoff(t: torch.Tensor) -> torch.Tensor:  # (1, P, units, 1) -> (P, <= SNAP_UNITS)
            return (t[0, :, :SNAP_UNITS, 0] > 0)

        raster = torch.stack([torch.stack([onoff(a.d), onoff(b.d), onoff(e.a)]) for a, b, e in zip(r1, r2, ev,
                                                                                                strict=True)])
        return {"eval": q_eval, "train": q_train, "scale": scale, "kept": o["kept"][0],
                "out_eval": as_u8(o["out_eval"][0]), "out_train": as_u8(o["out_train"][0]), "pred": o["pred_eval"][0],
                "raster": raster.numpy().astype(np.uint8)}

    def keep(self, epoch: int, shot: dict[str, Any] | None, res: Any) -> None:
        """Keep a drawn snapshot and publish the snapshots so far."""
        if shot is None:
            return
        self.taken.append(shot)
        self.epochs.append(epoch)
        res.artifacts = {**res.artifacts, "snapshots": self.stacked()}

    def stacked(self) -> dict[str, Any]:
        """The snapshots so far as arrays with a leading snapshot axis (how the store keeps them)."""
        out: dict[str, Any] = {k: np.stack([t[k] for t in self.taken]) for k in self.taken[0]}
        out.update(epochs=np.array(self.epochs, np.int64), x=self.gx.numpy(), y=self.gy.numpy(),
                   seed=int(self.cfg.seed_list[0]), width=int(self.cfg.width), max_units=MAX_UNITS)
        return out

    def units(self, net: BatchedNet, between: Callable[[], None] | None = None) -> dict[str, Any] | None:
        """Every seed's final unit pictures (None for runs it does not draw)."""
        if not self.on:
            return None
        return units_artifact(part(net, self.cfg, self.lo, self.hi), self.data,
                              SeedStreams(self.cfg.seed_list, UNITS_STREAM), between=between)

    def finish(self, res: Any, units: dict[str, Any] | None) -> None:
        """After training: the snapshots taken and the final unit pictures (None: none drawn)."""
        if not self.on:
            return
        arts = dict(res.artifacts)
        if self.taken:
            arts["snapshots"] = self.stacked()
        if units is not None:
            arts["units"] = units
        res.artifacts = arts


def part(net: BatchedNet, cfg: Config, lo: int, hi: int) -> BatchedNet:
    """Slices lo..hi of a network as a network of `cfg`'s own settings (one variant of a group,
    core.groups, has its own activation and dropout), with copies of their weights. The whole
    network's front, when the network is this run alone, is a view (head); otherwise a small network is
    built and the weights copied in: a few per snapshot, cheap beside training."""
    if lo == 0 and net.S == cfg.seeds:  # the network is this run alone: its front is a view
        return net.head(hi)
    one = BatchedNet(dataclasses.replace(cfg, seeds=hi - lo), n_in=net.n_in, n_classes=net.n_classes)
    with torch.no_grad():
        for mine, p in zip(one.params, net.params, strict=True):
            mine.copy_(p[lo:hi])
        for (m, v), (pm, pv) in zip(one.bn_stats, net.bn_stats, strict=True):
            m.copy_(pm[lo:hi])
            v.copy_(pv[lo:hi])
    return one


class GroupSnapshots:
    """The snapshots of every run of a group (core.groups): configs[j] owns slices ranges[j]."""

    def __init__(self, configs: Sequence[Config], ranges: Sequence[tuple[int, int]], data: Dataset):
        self.each = [Snapshots(c, data, lo=lo, hi=hi) for c, (lo, hi) in zip(configs, ranges, strict=True)]

    def take(self, epoch: int, net: BatchedNet, results: Sequence[Any],
             between: Callable[[], None] | None = None) -> None:
        """Every run's snapshot of `epoch`, all drawn before any is kept (between may give them up)."""
        shots = [s.draw(epoch, net, between) for s in self.each]
        for s, shot, r in zip(self.each, shots, results, strict=True):
            s.keep(epoch, shot, r)

    def units(self, net: BatchedNet, between: Callable[[], None] | None = None) -> list[dict[str, Any] | None]:
        """Every run's final unit pictures, all drawn before any is kept (between may give them up)."""
        return [s.units(net, between) for s in self.each]

    def finish(self, results: Sequence[Any], units: Sequence[dict[str, Any] | None] | None = None) -> None:
        for j, (s, r) in enumerate(zip(self.each, results, strict=True)):
            s.finish(r, None if units is None else units[j])
