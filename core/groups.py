"""Which variants of an experiment train together, as slices of one batched model.

Variants that share shapes and data (the data settings, model, depth, width, batch norm, batch
size and epochs: SHAPE_FIELDS) train as one network whose slices are their seeds
(core.slices); what may differ between them is in SLICE_FIELDS. `group_variants` cuts an
experiment into such groups, in a canonical order that depends on the settings alone, so a
group has a stable key: any backend that trains the group with core.train.train_group gets
the same numbers, and the results merge into the experiment by each config's index.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.config import Config
from core.cost import examples, memory_bytes

# Settings a group's variants share: the data (and so every batch's size), and every shape.
SHAPE_FIELDS = ("dataset", "n_samples", "noise", "label_noise", "val_fraction", "scaling", "data_path", "model",
                "depth", "width", "batchnorm", "batch_size", "epochs")
# Settings each variant (its run of slices) has for itself.
SLICE_FIELDS = ("activation", "init", "dropout", "weight_decay", "optimizer", "lr", "seeds", "seed")
# A group's estimated training memory (core.cost.memory_bytes) stays under this, unless one
# variant alone is larger: the slices of a group are in memory at once, while groups train one
# after another. Beyond a few hundred MB the networks are large enough that a step is
# arithmetic, not overhead, and stacking them saves little.
MAX_GROUP_BYTES = 256 * 2**20


def shape_key(cfg: Config) -> tuple:
    """Variants with equal keys can be slices of one network. n_samples counts as the examples it
    means (0 = all), as the data do.

    With batch norm two settings join the key. Whether dropout is on: it decides whether the two
    train-mode passes of the metrics share their batch statistics (core.metrics), for every
    slice of a network at once. And the activation: autograd hands batch norm the gradient laid
    out as the activation's backward lays it out (ReLU's like its output, tanh's like the
    incoming gradient), batch norm's backward sums it in that order, and one tensor has one
    layout, so slices with different activations could not each sum as they do alone."""
    key = tuple(examples(cfg) if f == "n_samples" else getattr(cfg, f) for f in SHAPE_FIELDS)
    return key + ((cfg.dropout > 0, cfg.activation) if cfg.batchnorm else None,)


def _slice_order(cfg: Config) -> tuple:
    # Equal activations and optimizers next to each other: fewer runs of slices to apply them to.
    return (cfg.activation, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.dropout, cfg.init, cfg.seed, cfg.seeds,
            json.dumps(cfg.to_dict(), sort_keys=True))


@dataclass(frozen=True)
class Group:
    """Variants trained as slices of one network: configs[j] owns slices ranges[j], and is
    variant indices[j] of its experiment."""

    configs: tuple[Config, ...]
    indices: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...] = field(init=False)

    def __post_init__(self):
        ends, n = [], 0
        for c in self.configs:
            ends.append((n, n + c.seeds))
            n += c.seeds
        object.__setattr__(self, "ranges", tuple(ends))

    @property
    def slices(self) -> int:
        return self.ranges[-1][1]

    @property
    def key(self) -> str:
        """A hash of the group's settings in slice order and the engine version (and a CSV's
        content, not its path, as the run store keys runs): the same group, from any experiment
        and on any machine, has the same key and gives the same numbers."""
        from core.store import store_key  # the run store's canonical form of settings

        return hashlib.sha256(f"group:{store_key(list(self.configs))}".encode()).hexdigest()[:32]


def group_configs(configs: Sequence[Config], sequential: bool = False,
                  max_bytes: float = MAX_GROUP_BYTES) -> list[Group]:
    """The groups of an experiment's variant configs, in order of their first variant.
    sequential: every variant alone (the engine before groups)."""
    if sequential:
        return [Group((c,), (i,)) for i, c in enumerate(configs)]
    by_key: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        by_key.setdefault(shape_key(c), []).append(i)
    groups = []
    for members in by_key.values():
        members = sorted(members, key=lambda i: _slice_order(configs[i]))
        part: list[int] = []
        used = 0.0
        for i in members:
            need = memory_bytes(configs[i])[0]
            if part and used + need > max_bytes:
                groups.append(part)
                part, used = [], 0.0
            part.append(i)
            used += need
        groups.append(part)
    groups.sort(key=min)
    return [Group(tuple(configs[i] for i in g), tuple(g)) for g in groups]


def group_variants(base: Config, variants: dict[str, dict[str, Any]] | None = None,
                   sequential: bool = False) -> list[Group]:
    """group_configs of base plus each variant's overrides (core.train.run_experiment's arguments)."""
    variants = variants or {"run": {}}
    return group_configs([base.replace(**ov) for ov in variants.values()], sequential)

