"""Named experiments for the page and for seminars. Each is base settings plus variants to
compare on identical data and seeds (run them with core.train.run_experiment)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import Config, validate


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    question: str
    look_for: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def base_config(self, **overrides: Any) -> Config:
        return validate({**self.base, **overrides})

    def variant_configs(self, **overrides: Any) -> dict[str, Config]:
        base = self.base_config(**overrides)
        return {name: base.replace(**ov) for name, ov in (self.variants or {"run": {}}).items()}


# A small 2-D problem that a 2-layer MLP can overfit in a second: few points, noisy moons.
_SMALL_MOONS = dict(dataset="moons", n_samples=300, noise=0.3, val_fraction=0.4, model="mlp", depth=2,
                    width=128, optimizer="adam", lr=0.01, batch_size=32, epochs=80, seeds=3)

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "relu-vs-dropout", "Does ReLU do what dropout does?",
        "Both put zeros into the hidden layers. Are they the same thing?",
        "ReLU alone fits the moons (non-linear) and its on/off mask agrees with itself pass after pass "
        "(agreement 1). Dropout re-draws its zeros every pass (agreement well below 1), narrows the gap "
        "between train and validation, and without ReLU cannot bend the boundary: linear + dropout stays "
        "a straight line.",
        _SMALL_MOONS,
        {"ReLU": {"activation": "relu", "dropout": 0.0},
         "ReLU + dropout 0.5": {"activation": "relu", "dropout": 0.5},
         "linear + dropout 0.5": {"activation": "linear", "dropout": 0.5},
         "linear": {"activation": "linear", "dropout": 0.0}},
    ),
    Preset(
        "dying-relu", "Dying ReLU: a learning rate high enough to kill units",
        "What happens to ReLU units when the steps are too large?",
        "At a large learning rate most ReLU units end up negative on every input: dead, with zero "
        "gradient, never to recover. Leaky ReLU keeps a small slope, so its units are 'negative' but not "
        "dead and can still learn. A small learning rate keeps most ReLU units alive.",
        dict(dataset="moons", n_samples=600, noise=0.2, scaling="feature", depth=4, width=32, optimizer="adam",
             lr=0.1, batch_size=32, epochs=60, seeds=3, init="he"),
        {"ReLU, lr 0.1": {"activation": "relu"}, "leaky ReLU, lr 0.1": {"activation": "leaky_relu"},
         "ReLU, lr 0.003": {"activation": "relu", "lr": 0.003}},
    ),
    Preset(
        "linear-is-not-enough", "Without a non-linearity, depth buys nothing",
        "Can a deep network with no activation separate the moons?",
        "A stack of linear layers is one linear map: its boundary is a straight line, and validation "
        "accuracy stalls well below what ReLU reaches on the same data.",
        dict(dataset="moons", n_samples=600, noise=0.1, depth=3, width=32, optimizer="adam", lr=0.01,
             batch_size=64, epochs=60, seeds=3),
        {"linear": {"activation": "linear"}, "ReLU": {"activation": "relu"}},
    ),
    Preset(
        "memorize-random-labels", "Memorizing random labels",
        "Can a network fit labels that carry no information at all?",
        "With every training label random, training accuracy still climbs (the network memorizes), while "
        "validation stays at chance (0.5). Dropout slows the memorizing down.",
        dict(dataset="moons", n_samples=300, noise=0.3, val_fraction=0.3, label_noise=1.0, depth=3,
             width=256, optimizer="adam", lr=0.003, batch_size=32, epochs=150, seeds=3),
        {"no dropout": {"dropout": 0.0}, "dropout 0.5": {"dropout": 0.5}},
    ),
    Preset(
        "tiny-data-overfit", "Tiny data: where regularization earns its keep",
        "With only a few examples, what do dropout and weight decay do to the overfitting gap?",
        "Without regularization the training loss falls toward 0 while validation loss climbs: a "
        "growing gap. Dropout and weight decay keep the gap smaller.",
        dict(dataset="moons", n_samples=100, noise=0.35, val_fraction=0.5, depth=2, width=256,
             optimizer="adam", lr=0.01, batch_size=0, epochs=200, seeds=3),
        {"plain": {}, "dropout 0.5": {"dropout": 0.5}, "weight decay 0.01": {"weight_decay": 0.01},
         "dropout + weight decay": {"dropout": 0.5, "weight_decay": 0.01}},
    ),
    Preset(
        "digits-cnn", "Handwritten digits with a small CNN",
        "Does the story hold on real images and convolutions?",
        "On the 8x8 digits a small CNN learns fast; ReLU's zeros are stable pass to pass, dropout's are not.",
        dict(dataset="digits", n_samples=1797, scaling="global", val_fraction=0.3, model="cnn", depth=2,
             width=16, optimizer="adam", lr=0.003, batch_size=64, epochs=15, seeds=2),
        {"ReLU": {"dropout": 0.0}, "ReLU + dropout 0.3": {"dropout": 0.3}},
    ),
]}
