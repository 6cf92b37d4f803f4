"""Named experiments for the page and for seminars. Each is base settings plus variants to
compare on identical data and seeds (run them with core.train.run_experiment), and the claims
it makes about its own results: what the page shows under "What to look for", each with this
run's evidence. tests/test_claims.py checks every claim over 5 seeds from seed 0 and from seed
100, and over the preset's own seeds."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from core.claims import (
    Claim,
    bent_boundary,
    both,
    close,
    everywhere,
    fewest_in_first,
    higher,
    lower,
    rises,
    straight_boundary,
    total_above,
    total_higher,
    within,
)
from core.config import Config, validate


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    question: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()

    @property
    def look_for(self) -> str:
        """What to look for: the claims' texts, so no sentence of it goes unchecked."""
        return " ".join(c.text for c in self.claims)

    def claim(self, start: str) -> Claim:
        """The claim whose text starts with `start` (texts elsewhere name the claims they rest on)."""
        return next(c for c in self.claims if c.text.startswith(start))

    def base_config(self, **overrides: Any) -> Config:
        return validate({**self.base, **overrides})

    def variant_configs(self, **overrides: Any) -> dict[str, Config]:
        base = self.base_config(**overrides)
        return {name: base.replace(**ov) for name, ov in (self.variants or {"run": {}}).items()}


# A small 2-D problem that a 2-layer MLP can overfit in a second: few points, noisy moons.
_SMALL_MOONS = dict(dataset="moons", n_samples=300, noise=0.3, val_fraction=0.4, model="mlp", depth=2,
                    width=128, optimizer="adam", lr=0.01, batch_size=32, epochs=80, seeds=3)

_R, _RD, _LD, _L = "ReLU", "ReLU + dropout 0.5", "linear + dropout 0.5", "linear"
_HI, _LK, _LO = "ReLU, lr 0.1", "leaky ReLU, lr 0.1", "ReLU, lr 0.003"
_ND, _D5 = "no dropout", "dropout 0.5"
_P, _WD, _DWD = "plain", "weight decay 0.01", "dropout + weight decay"
_CR, _CD = "ReLU", "ReLU + dropout 0.3"

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "relu-vs-dropout", "Does ReLU do what dropout does?",
        "Both put zeros into the hidden layers. Are they the same thing?",
        _SMALL_MOONS,
        {_R: {"activation": "relu", "dropout": 0.0}, _RD: {"activation": "relu", "dropout": 0.5},
         _LD: {"activation": "linear", "dropout": 0.5}, _L: {"activation": "linear", "dropout": 0.0}},
        (Claim("ReLU bends the boundary around the moons; linear + dropout, like linear, draws a straight "
               "line: dropout adds no non-linearity.",
               both(bent_boundary(_R), straight_boundary(_LD), straight_boundary(_L))),
         Claim("So ReLU reaches a higher validation accuracy than linear, and dropout does not lift linear's "
               "(the two stay within 0.02).",
               both(higher("val_acc", _R, _L, by=0.01), close("val_acc", _LD, _L, tol=0.02))),
         Claim("ReLU's on/off mask agrees with itself exactly (1.0) on two training passes, in every layer "
               "and epoch.", everywhere("mask_agreement", _R, 1.0, 1.0)),
         Claim("Dropout draws new zeros on every pass: with dropout 0.5 the first layer's agreement is "
               "between 0.7 and 0.9.", within("mask_agreement", _RD, 0.7, 0.9, every_seed=True)),
         Claim("Dropout narrows the loss gap (validation minus training loss) that ReLU alone leaves open.",
               lower("gap_loss", _RD, _R, by=0.05))),
    ),
    Preset(
        "dying-relu", "Dying ReLU: a learning rate high enough to kill units",
        "What happens to ReLU units when the steps are too large?",
        dict(dataset="moons", n_samples=600, noise=0.2, scaling="feature", depth=4, width=32, optimizer="adam",
             lr=0.1, batch_size=32, epochs=60, seeds=3, init="he"),
        {_HI: {"activation": "relu"}, _LK: {"activation": "leaky_relu"}, _LO: {"activation": "relu", "lr": 0.003}},
        (Claim("At learning rate 0.1 most ReLU units die: more than half of the 128 hidden units output 0 "
               "for every training input.", within("dead", _HI, 64, 128, layer=None, every_seed=True)),
         Claim("The deeper layers lose more units than the first. A first-layer unit reads the two centred "
               "coordinates, which take both signs, so it dies only if its line misses all the data; a deeper "
               "unit reads ReLU outputs, never negative and often 0, so once its weights and bias turn "
               "negative it is off for every input.", fewest_in_first("dead", _HI)),
         Claim("Leaky ReLU at the same learning rate has no dead units, though many of its units are negative "
               "on every input: below 0 its slope is 0.01, not 0, so they still get a gradient.",
               both(everywhere("dead", _LK, 0, 0), within("negative", _LK, 20, 128, layer=None, every_seed=True))),
         Claim("A small learning rate (0.003) keeps most ReLU units alive: fewer than one in five dies.",
               within("dead", _LO, 0, 25, layer=None, every_seed=True)),
         Claim("Dead is not for good: at learning rate 0.1, units of the deeper layers come back to life while "
               "the layers before them keep changing (more than 10 revivals per network over the run, counted "
               "epoch by epoch).",
               total_above("revived", _HI, 10, layers=slice(1, None), label=" (layers 2 and deeper)"))),
    ),
    Preset(
        "linear-is-not-enough", "Without a non-linearity, depth buys nothing",
        "Can a deep network with no activation separate the moons?",
        dict(dataset="moons", n_samples=600, noise=0.1, depth=3, width=32, optimizer="adam", lr=0.01,
             batch_size=64, epochs=60, seeds=3),
        {_L: {"activation": "linear"}, "ReLU": {"activation": "relu"}},
        (Claim("A stack of linear layers is one linear map: its boundary is a straight line.",
               straight_boundary(_L)),
         Claim("ReLU bends its boundary around the moons.", bent_boundary("ReLU")),
         Claim("The linear network's validation accuracy stays well below ReLU's (by more than 0.1).",
               higher("val_acc", "ReLU", _L, by=0.1))),
    ),
    Preset(
        "memorize-random-labels", "Memorizing random labels",
        "Can a network fit labels that carry no information at all?",
        # 200 validation points: chance alone (a coin per point) spreads accuracy by about ±0.07.
        dict(dataset="moons", n_samples=400, noise=0.3, val_fraction=0.5, label_noise=1.0, depth=3,
             width=128, optimizer="adam", lr=0.003, batch_size=32, epochs=200, seeds=3),
        {_ND: {"dropout": 0.0}, _D5: {"dropout": 0.5}},
        (Claim("With every training label random, the network without dropout still memorizes them: its "
               "training accuracy climbs from chance (0.5) to above 0.75.",
               both(rises("train_acc", _ND, by=0.2), within("train_acc", _ND, 0.75, 1.0, every_seed=True))),
         Claim("Validation accuracy stays near chance for both: every seed ends within 0.1 of 0.5 (with 200 "
               "validation points, chance alone varies by about ±0.07).",
               both(within("val_acc", _ND, 0.4, 0.6, every_seed=True),
                    within("val_acc", _D5, 0.4, 0.6, every_seed=True))),
         Claim("Dropout slows the memorizing down: its training accuracy stays lower (by more than 0.1).",
               lower("train_acc", _D5, _ND, by=0.1))),
    ),
    Preset(
        "tiny-data-overfit", "Tiny data: what regularization does to the gap",
        "With only a few examples, what do dropout and weight decay do to the overfitting gap?",
        dict(dataset="moons", n_samples=100, noise=0.35, val_fraction=0.5, depth=2, width=256,
             optimizer="adam", lr=0.01, batch_size=0, epochs=200, seeds=3),
        {_P: {}, _D5: {"dropout": 0.5}, _WD: {"weight_decay": 0.01}, _DWD: {"dropout": 0.5, "weight_decay": 0.01}},
        (Claim("Without regularization the training loss falls to about 0 while the validation loss climbs "
               "from its minimum.",
               both(within("train_loss", _P, 0.0, 0.01, every_seed=True), rises("val_loss", _P, by=0.5))),
         Claim("Dropout, weight decay and both together each shrink that loss gap (validation minus training "
               "loss), weight decay far more than dropout.",
               both(*(lower("gap_loss", v, _P, by=0.2) for v in (_D5, _WD, _DWD)),
                    lower("gap_loss", _WD, _D5, by=0.2))),
         Claim("The accuracy gap (training minus validation accuracy) is another matter: dropout alone or "
               "weight decay alone does not narrow it; only the two together do.",
               both(higher("gap_acc", _D5, _P, by=-0.01), higher("gap_acc", _WD, _P, by=-0.01),
                    lower("gap_acc", _DWD, _P, by=0.01))),
         Claim("None of them raises validation accuracy here (the plain network's is the highest); what they "
               "lower is the validation loss, the price of confident mistakes.",
               both(*(higher("val_acc", _P, v) for v in (_D5, _WD, _DWD)),
                    *(lower("val_loss", v, _P, by=0.3) for v in (_D5, _WD, _DWD)))),
         Claim("Dropout does not protect units from dying: with dropout more units end dead than without.",
               higher("dead", _D5, _P, by=20, layer=None)),
         Claim("Weight decay brings dead units back: in the first layer, whose inputs never change, units come "
               "back to life with weight decay (dozens of revivals per network) and hardly ever without.",
               total_higher("revived", _WD, _P, by=20, layers=slice(0, 1), label=" (layer 1)"))),
    ),
    Preset(
        "digits-cnn", "Handwritten digits with a small CNN",
        "Does the story hold on real images and convolutions?",
        dict(dataset="digits", n_samples=1797, scaling="global", val_fraction=0.3, model="cnn", depth=2,
             width=16, optimizer="adam", lr=0.003, batch_size=64, epochs=15, seeds=2),
        {_CR: {"dropout": 0.0}, _CD: {"dropout": 0.3}},
        (Claim("On the 8x8 digits the small CNN learns fast: both variants end above 0.95 validation accuracy.",
               both(within("val_acc", _CR, 0.95, 1.0, every_seed=True),
                    within("val_acc", _CD, 0.95, 1.0, every_seed=True))),
         Claim("ReLU's zeros are stable pass to pass: agreement is exactly 1.0 in both conv layers.",
               everywhere("mask_agreement", _CR, 1.0, 1.0)),
         Claim("Channel dropout's are not: with dropout 0.3 agreement is between 0.6 and 0.9 in each layer.",
               both(within("mask_agreement", _CD, 0.6, 0.9, layer=0, every_seed=True),
                    within("mask_agreement", _CD, 0.6, 0.9, layer=1, every_seed=True))),
         Claim("Here dropout does not narrow the gap: the loss gaps with and without it stay within 0.02 of "
               "each other.", close("gap_loss", _CD, _CR, tol=0.02))),
    ),
]}


def markdown(width: int = 100) -> str:
    """The README's list of presets: each one's question and its checked claims."""
    out = []
    for p in PRESETS.values():
        out.append(textwrap.fill(f"- `{p.name}` ({p.title}): {p.question}", width, subsequent_indent="  "))
        out += [textwrap.fill(f"- {c.text}", width, initial_indent="  ", subsequent_indent="    ")
                for c in p.claims]
    return "\n".join(out)
