"""Registries from names to implementations. The UI lists these names and the URL carries them.

Activations carry their derivative (for the `saturated` count) and the derivative's maximum.
Everything here is pure tensor math: no UI, no state.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    fn: Callable[[Tensor], Tensor]
    grad: Callable[[Tensor], Tensor]  # d act / d z, elementwise, same convention as autograd
    grad_max: float
    label: str
    # True where the derivative is exactly 0 for z <= 0 and positive otherwise (ReLU): then
    # "saturated" equals "negative" and needs no derivative pass.
    saturates_where_negative: bool = False
    fn_: Callable[[Tensor], Tensor] | None = None  # in-place version, where one exists


def _gelu_grad(z: Tensor) -> Tensor:
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf + z * pdf


def _silu_grad(z: Tensor) -> Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


# ReLU's derivative at exactly 0 is taken as 0, as in PyTorch's autograd.
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(torch.relu, lambda z: (z > 0).to(z.dtype), 1.0, "ReLU", True, torch.relu_),
    "leaky_relu": Activation(lambda z: F.leaky_relu(z, 0.01),
                             lambda z: torch.where(z > 0, 1.0, 0.01).to(z.dtype), 1.0, "leaky ReLU (0.01)"),
    "elu": Activation(F.elu, lambda z: torch.where(z > 0, torch.ones_like(z), torch.exp(z)), 1.0, "ELU"),
    # GELU's derivative peaks at about 1.1289 near z = 0.7518.
    "gelu": Activation(F.gelu, _gelu_grad, 1.1289, "GELU"),
    # SiLU's derivative peaks at about 1.0998 near z = 2.3994.
    "silu": Activation(F.silu, _silu_grad, 1.0998, "SiLU"),
    "tanh": Activation(torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2, 1.0, "tanh"),
    "sigmoid": Activation(torch.sigmoid, lambda z: torch.sigmoid(z) * (1.0 - torch.sigmoid(z)), 0.25, "sigmoid"),
    "linear": Activation(lambda z: z, torch.ones_like, 1.0, "linear (none)"),
}

# Names only: implementations live beside the code that uses them (data.py, models.py, train.py)
# so this module stays import-light; tests check every name here has an implementation.
DATASETS: dict[str, str] = {
    "moons": "two interleaving half circles",
    "circles": "a circle inside a circle",
    "spirals": "two interleaved spirals",
    "xor": "four quadrants, opposite ones share a class",
    "gaussians": "three overlapping Gaussian blobs",
    "digits": "scikit-learn's 1797 bundled 8x8 handwritten digits, 10 classes",
    "csv": "your own 2-D points from a CSV file",
}
MODELS: dict[str, str] = {"mlp": "fully connected network", "cnn": "small convolutional network (digits)"}
INITS: dict[str, str] = {
    "default": "PyTorch's nn.Linear/Conv2d default: uniform(+-1/sqrt(fan_in)) for weights and biases",
    "he": "Kaiming-normal weights, std sqrt(2/fan_in); zero biases",
    "xavier": "Glorot-normal weights, std sqrt(2/(fan_in+fan_out)); zero biases",
}
OPTIMIZERS: dict[str, str] = {"sgd": "plain SGD", "momentum": "SGD with momentum 0.9", "adam": "Adam"}
