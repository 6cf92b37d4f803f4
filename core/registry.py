"""Registries: every name the settings accept, mapped to its implementation and its traits.

The UI lists these names and the URL carries them; the engine, the charts and the plain
baseline (bench/baseline.py) read what they need to know about a name from here, so adding an
activation, an initialization, an optimizer or a data set is one entry here (and its test,
tests/test_registry.py, which checks every trait against what the implementation does).
Only torch, numpy and leaf modules are imported: core.config imports this module.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import optim, toysets
from core.csvdata import MAX_CLASSES, load_points

if TYPE_CHECKING:
    from core.config import Config

Tensor = torch.Tensor


# --- activations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Activation:
    fn: Callable[[Tensor], Tensor]
    grad: Callable[[Tensor], Tensor]  # d act / d z, elementwise, same convention as autograd (at 0 too)
    grad_max: float  # the derivative's maximum: a unit is "saturated" where it is below 1% of this
    label: str
    module: Callable[[], nn.Module]  # the equivalent torch.nn module (the plain baseline builds with it)
    # Traits, by design (float32 rounding aside: GELU rounds to exactly 0 below z = -5.5, SiLU and
    # sigmoid below z = -88.7; tests/test_registry.py pins both facts).
    zero_below: bool = False      # outputs exactly 0 for every z <= 0 (ReLU)
    exact_zeros: bool = False     # outputs exactly 0 on an open set of inputs: "off" is a state it can be in
    keeps_negative: bool = False  # a rectifier that bends negative inputs instead of zeroing them: the
    #                               ReLU-dead analogue is "negative on every input" (the dashboard counts it)
    saturates: bool = False       # bounded: the derivative vanishes for large |z| on both sides
    # ReLU's shape: the output is 0 exactly where z <= 0 and z elsewhere, the derivative 0 and 1.
    # Then "saturated" = "negative" = "dead" and the metrics need no derivative pass, and the
    # hand-written backward may use autograd's ReLU kernel (core.models.relu_backward).
    saturates_where_negative: bool = False
    # In-place version. Only for saturates_where_negative activations: the metrics then need no z,
    # so the forward pass may overwrite z with a (core.models.BatchedNet.forward).
    fn_: Callable[[Tensor], Tensor] | None = None
    # What "off" means for the mask figures (mask_flip, mask_agreement, on_frac_train), which
    # all read a unit as on where its output is > 0:
    # "zero": off = output exactly 0, a state the unit is in for every z <= 0 (ReLU);
    # "sign": off = output <= 0. The output goes below 0 and is (nearly) never exactly 0, so
    #         "on" is the sign of the output, which is the sign of z (tanh, linear, leaky ReLU, ...);
    # None:   never off: every output is > 0 (sigmoid), so the mask figures do not apply (NaN).
    mask: Literal["zero", "sign"] | None = "sign"


def _gelu_grad(z: Tensor) -> Tensor:
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf + z * pdf


def _silu_grad(z: Tensor) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


ACTIVATIONS: dict[str, Activation] = {
    # ReLU's derivative at exactly 0 is taken as 0, as in PyTorch's autograd.
    "relu": Activation(torch.relu, lambda z: (z > 0).to(z.dtype), 1.0, "ReLU", nn.ReLU,
                       zero_below=True, exact_zeros=True, saturates_where_negative=True, fn_=torch.relu_, mask="zero"),
    "leaky_relu": Activation(lambda z: F.leaky_relu(z, 0.01), lambda z: torch.where(z > 0, 1.0, 0.01).to(z.dtype),
                             1.0, "leaky ReLU (0.01)", lambda: nn.LeakyReLU(0.01), keeps_negative=True),
    "elu": Activation(F.elu, lambda z: torch.where(z > 0, torch.ones_like(z), torch.exp(z)), 1.0, "ELU", nn.ELU,
                      keeps_negative=True),
    # GELU's derivative peaks at about 1.1289 near z = 0.7518.
    "gelu": Activation(F.gelu, _gelu_grad, 1.1289, "GELU", nn.GELU, keeps_negative=True),
    # SiLU's derivative peaks at about 1.0998 near z = 2.3994.
    "silu": Activation(F.silu, _silu_grad, 1.0998, "SiLU", nn.SiLU, keeps_negative=True),
    "tanh": Activation(torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2, 1.0, "tanh", nn.Tanh, saturates=True),
    "sigmoid": Activation(torch.sigmoid, lambda z: torch.sigmoid(z) * (1.0 - torch.sigmoid(z)), 0.25, "sigmoid",
                          nn.Sigmoid, saturates=True, mask=None),
    "linear": Activation(lambda z: z, torch.ones_like, 1.0, "linear (none)", nn.Identity),
}


def mask_note(activation: str) -> str | None:
    """Why the mask figures of this activation do not apply (they are NaN), to be shown as
    "not applicable: <reason>"; None where they apply."""
    act = ACTIVATIONS[activation]
    return None if act.mask is not None else f"{act.label} is never off (every output is > 0)"


# --- initializations --------------------------------------------------------------------------

InitFn = Callable[[tuple[int, ...], int, int, torch.Generator], Tensor]  # (shape, fan_in, fan_out, g)


@dataclass(frozen=True)
class Init:
    label: str
    weight: InitFn
    bias: InitFn
    nn_init: Callable[[nn.Linear], None]  # the same scheme with torch.nn.init on a module (plain baseline)


def _uniform_fan_in(shape, fan_in, fan_out, g):
    # nn.Linear / nn.Conv2d default: kaiming_uniform(a=sqrt(5)) gives bound 1/sqrt(fan_in),
    # and the bias is uniform with the same bound.
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=g)


def _zeros(shape, fan_in, fan_out, g):
    return torch.zeros(shape)


def _normal(std: Callable[[int, int], float]) -> InitFn:
    return lambda shape, fan_in, fan_out, g: torch.empty(shape).normal_(0.0, std(fan_in, fan_out), generator=g)


def _nn_init(weight_init: Callable[[Tensor], object]) -> Callable[[nn.Linear], None]:
    def apply(m: nn.Linear) -> None:
        weight_init(m.weight)
        nn.init.zeros_(m.bias)
    return apply


INITS: dict[str, Init] = {
    "default": Init("PyTorch's nn.Linear/Conv2d default: uniform(+-1/sqrt(fan_in)) for weights and biases",
                    _uniform_fan_in, _uniform_fan_in, lambda m: None),  # a fresh nn.Linear already is
    "he": Init("Kaiming-normal weights, std sqrt(2/fan_in); zero biases",
               _normal(lambda fi, fo: math.sqrt(2.0 / fi)), _zeros,
               _nn_init(lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"))),
    "xavier": Init("Glorot-normal weights, std sqrt(2/(fan_in+fan_out)); zero biases",
                   _normal(lambda fi, fo: math.sqrt(2.0 / (fi + fo))), _zeros, _nn_init(nn.init.xavier_normal_)),
}


# --- optimizers -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Optimizer:
    label: str
    make: Callable[[Config, list[Tensor]], optim.Adam | optim.SGD]  # the lab's (core.optim.make_optimizer)
    plain: Callable[[Config, Iterable[Tensor]], torch.optim.Optimizer]  # stock torch.optim, same updates
    state_tensors: int  # state tensors the optimizer keeps per parameter, each its size (memory)


OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer("plain SGD",
                     lambda c, ps: optim.SGD(ps, lr=c.lr, weight_decay=c.weight_decay),
                     lambda c, ps: torch.optim.SGD(ps, lr=c.lr, weight_decay=c.weight_decay), 0),
    "momentum": Optimizer("SGD with momentum 0.9",
                          lambda c, ps: optim.SGD(ps, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay),
                          lambda c, ps: torch.optim.SGD(ps, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay), 1),
    "adam": Optimizer("Adam",
                      lambda c, ps: optim.Adam(ps, lr=c.lr, weight_decay=c.weight_decay),
                      lambda c, ps: torch.optim.Adam(ps, lr=c.lr, weight_decay=c.weight_decay), 2),
}


# --- data sets and models ---------------------------------------------------------------------

GENERATED_SIZE = 1000  # points a generated 2-D set has when n_samples is 0 (the default)

@dataclass(frozen=True)
class DataSource:
    label: str
    # (settings, n, rng) -> raw (x, y): n examples (a CSV: all its rows, n is ignored), x (n, features),
    # y (n,) labels 0..classes-1. Only the data settings are read, and all randomness comes from rng
    # (core.data: the data never depend on seed). n is core.cost.examples(settings).
    load: Callable[[Config, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    n_features: int
    n_classes: int | None  # None: read from the data (a CSV)
    is_2d: bool            # points in the plane: the decision-boundary chart applies
    images: bool = False   # 8x8 images, flattened: the CNN applies
    # The data set's natural size, what n_samples = 0 means: the examples a generator makes by
    # default, every image of a fixed set (also the most n_samples may ask for), None for a CSV
    # (its rows; n_samples does not apply).
    size: int | None = GENERATED_SIZE
    fixed: bool = False    # a fixed set of `size` examples: n_samples may not ask for more

    @property
    def max_classes(self) -> int:
        """Classes at most, before the data are read (a CSV allows csvdata.MAX_CLASSES)."""
        return MAX_CLASSES if self.n_classes is None else self.n_classes


def _generated(gen: Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]):
    return lambda cfg, n, rng: gen(n, cfg.noise, rng)


DATASETS: dict[str, DataSource] = {
    "moons": DataSource("two interleaving half circles", _generated(toysets.moons), 2, 2, True),
    "circles": DataSource("a circle inside a circle", _generated(toysets.circles), 2, 2, True),
    "spirals": DataSource("two interleaved spirals", _generated(toysets.spirals), 2, 2, True),
    "xor": DataSource("four quadrants, opposite ones share a class", _generated(toysets.xor), 2, 2, True),
    "gaussians": DataSource("three overlapping Gaussian blobs", _generated(toysets.gaussians), 2, 3, True),
    "digits": DataSource(f"scikit-learn's {toysets.DIGITS_SIZE} bundled 8x8 handwritten digits, 10 classes",
                         lambda cfg, n, rng: toysets.digits(n, rng), 64, 10, False, images=True,
                         size=toysets.DIGITS_SIZE, fixed=True),
    "csv": DataSource("your own 2-D points from a CSV file", lambda cfg, n, rng: load_points(cfg.data_path)[:2],
                      2, None, True, size=None),
}


@dataclass(frozen=True)
class Model:
    label: str
    needs_images: bool  # only for data sets whose examples are images (DataSource.images)


MODELS: dict[str, Model] = {
    "mlp": Model("fully connected network", needs_images=False),
    "cnn": Model("small convolutional network (digits)", needs_images=True),
}
