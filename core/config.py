"""The one settings schema: validation, CLI flags, dashboard widgets and the URL all read it.

Each field is declared once, as a dataclass field whose metadata carries its range or
choices, its help line and its group. `FIELDS` is the table everything else iterates.
Errors are `ConfigError`, whose message names the field, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.numbers import NumberError, normal_float, parse_number
from core.registry import ACTIVATIONS, DATASETS, INITS, MODELS, OPTIMIZERS
from core.safetext import shown
from core.toysets import DIGITS_SIZE  # noqa: F401 - part of this module's interface

SCALINGS = ("feature", "global", "none")  # input scaling (core.data.scale)


class ConfigError(ValueError):
    """A setting that cannot be used: one line naming the field, the value and what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: str, reason: str = ""):
        self.field = field_name
        self.value = value  # whole, for callers; the message shows it cut (core.safetext.shown)
        self.allowed = allowed
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"{field_name}: {shown(value)} is not allowed{why}; allowed: {allowed}")


@dataclass(frozen=True)
class Field:
    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str
    group: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    log: bool = False  # widgets use a log scale (lr; a field whose range starts at 0 cannot)
    # 0 is a word here (n_samples: "all of the data set"), and other values start at nonzero_lo:
    # lo stays 0, so a widget accepts 0, and parse rejects 1..nonzero_lo-1.
    zero: str | None = None
    nonzero_lo: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        if self.choices is not None:
            return ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        if self.type is str:  # data_path, the one free-text field (it read "a number >= " in --help)
            return "a file path"
        kind = "an integer" if self.type is int else "a number"
        if self.zero is not None:
            return f"0 ({self.zero}) or {kind} from {_fmt(self.nonzero_lo)} to {_fmt(self.hi)}"
        if self.hi is None:
            return f"{kind} >= {_fmt(self.lo)}"
        return f"{kind} from {_fmt(self.lo)} to {_fmt(self.hi)}"

    def parse(self, raw: Any) -> Any:
        """Turn a raw value (from JSON, a URL, a CLI flag or a widget) into a checked value."""
        value = _coerce(self, raw)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(self.name, raw, self.allowed())
        if self.lo is not None and value < self.lo:
            raise ConfigError(self.name, raw, self.allowed())
        if self.hi is not None and value > self.hi:
            raise ConfigError(self.name, raw, self.allowed())
        if self.nonzero_lo is not None and 0 < value < self.nonzero_lo:
            raise ConfigError(self.name, raw, self.allowed())
        return value


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) >= 1 else f"{x:g}"


# Variant names are shown in charts, tables, files, terminals and links, and come from URLs: a
# short plain-text alphabet keeps them inert everywhere (no markup, no formulas, no escapes, no
# URL separators). Starting with a letter or digit rules out spreadsheet formulas (=, +, -, @).
VARIANT_NAME_MAX = 40
VARIANT_NAME_CHARS = "letters A-Z and a-z, digits, space and + - . , ( ) _ : / %"
_VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 +\-.,()_:/%]*")


def variant_name(raw: Any) -> str:
    """A checked variant name (surrounding spaces dropped), or ConfigError naming 'variant name'."""
    name = raw.strip() if isinstance(raw, str) else raw
    allowed = (f"1 to {VARIANT_NAME_MAX} characters: {VARIANT_NAME_CHARS}, "
               "starting with a letter or digit")
    if not isinstance(name, str) or not name:
        raise ConfigError("variant name", raw, allowed)
    if not _VARIANT_NAME.fullmatch(name):
        bad = next((c for c in name if not _VARIANT_NAME.fullmatch("a" + c)), None)
        why = f"it contains {shown(bad)}" if bad is not None else f"it starts with {shown(name[0])}"
        raise ConfigError("variant name", raw, allowed, why)
    if len(name) > VARIANT_NAME_MAX:
        raise ConfigError("variant name", raw, allowed, f"it has {len(name)} characters")
    return name


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(f: Field, raw: Any) -> Any:
    if f.type is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ConfigError(f.name, raw, f.allowed())
    if f.type is str:
        if not isinstance(raw, str):
            raise ConfigError(f.name, raw, f.allowed())
        return raw.strip()
    if isinstance(raw, bool):  # bool is an int subclass; True is not a learning rate
        raise ConfigError(f.name, raw, f.allowed())
    if isinstance(raw, str):  # a CLI flag, a URL value, widget text: the one strict parser
        try:
            return parse_number(raw, f.type)
        except NumberError as e:
            raise ConfigError(f.name, raw, f.allowed(), e.reason) from None
    if f.type is int:
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        raise ConfigError(f.name, raw, f.allowed())
    if not isinstance(raw, (int, float)):
        raise ConfigError(f.name, raw, f.allowed())
    try:
        x = float(raw)
    except OverflowError:  # an int beyond float range (10**400)
        raise ConfigError(f.name, raw, f.allowed(), "too large") from None
    if not math.isfinite(x):
        raise ConfigError(f.name, raw, f.allowed())
    return normal_float(x)  # -0.0 from JSON: the same settings (and store key) as 0.0


def _f(default, help, group, lo=None, hi=None, choices=None, log=False, zero=None, nonzero_lo=None):
    meta = {"help": help, "group": group, "lo": lo, "hi": hi,
            "choices": tuple(choices) if choices is not None else None, "log": log, "zero": zero,
            "nonzero_lo": nonzero_lo}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Config:
    # data
    dataset: str = _f("moons", "Data set: 2-D toy sets, scikit-learn's 8x8 digits, or an uploaded CSV",
                      "data", choices=tuple(DATASETS))
    # 0 = the data set's natural size; core.cost.examples(cfg) is the number a run really uses.
    n_samples: int = _f(0, "Examples before the train/validation split; 0 = all of the data set: 1000 "
                           "generated points or all 1797 digits (digits: at most 1797). A CSV always uses "
                           "every row", "data", lo=0, hi=20000, zero="all of the data set",
                        nonzero_lo=50)
    noise: float = _f(0.3, "Input noise of the 2-D sets (ignored by digits and csv)", "data", lo=0.0, hi=2.0)
    label_noise: float = _f(0.0, "Fraction of training labels replaced by uniformly random labels "
                                 "(validation labels stay true)", "data", lo=0.0, hi=1.0)
    val_fraction: float = _f(0.3, "Fraction of examples held out for validation", "data", lo=0.1, hi=0.9)
    scaling: str = _f("feature", "Input scaling, with training-set statistics: feature = each input its own "
                                 "mean and std (constant inputs become 0); global = one mean and std over all "
                                 "inputs (the image convention); none = raw values", "data", choices=SCALINGS)
    data_path: str = _f("", "CSV file of 2-D points with a label column (dataset=csv only)", "data")
    # network
    model: str = _f("mlp", "mlp: fully connected; cnn: small convolutional net (digits only)",
                    "network", choices=tuple(MODELS))
    depth: int = _f(2, "Hidden layers (cnn: convolution layers)", "network", lo=1, hi=20)
    width: int = _f(64, "Units per hidden layer (cnn: channels)", "network", lo=1, hi=1024)
    activation: str = _f("relu", "Activation after every hidden layer", "network", choices=tuple(ACTIVATIONS))
    init: str = _f("default", "Weight initialization: PyTorch's default, He (Kaiming-normal) or "
                              "Xavier (Glorot-normal), the last two with zero biases",
                   "network", choices=tuple(INITS))
    # regularization
    dropout: float = _f(0.0, "Probability of zeroing each hidden unit in training, after every activation",
                        "regularization", lo=0.0, hi=0.95)
    weight_decay: float = _f(0.0, "L2 penalty added to the gradient", "regularization", lo=0.0, hi=1.0)
    batchnorm: bool = _f(False, "Batch normalization before every hidden activation", "regularization")
    # training
    optimizer: str = _f("adam", "sgd, sgd with momentum 0.9, or Adam", "training", choices=tuple(OPTIMIZERS))
    lr: float = _f(0.01, "Learning rate", "training", lo=1e-5, hi=10.0, log=True)
    batch_size: int = _f(64, "Examples per step; 0 = the whole training set", "training", lo=0, hi=20000)
    epochs: int = _f(200, "Passes over the training set (0 = only measure the network at initialization)",
                     "training", lo=0, hi=5000)
    seeds: int = _f(3, "Networks trained side by side, with seeds seed, seed+1, ...", "training", lo=1, hi=64)
    seed: int = _f(0, "First network seed: initial weights, batch order and dropout masks", "training", lo=0,
                   hi=2**31 - 1)

    def replace(self, **overrides: Any) -> Config:
        return validate({**self.to_dict(), **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """A canonical hash of the settings (the run store keys results by it)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


def _fields() -> tuple[Field, ...]:
    out = []
    for f in dataclasses.fields(Config):
        m = f.metadata
        typ = {"int": int, "float": float, "bool": bool, "str": str}[f.type] if isinstance(f.type, str) else f.type
        out.append(Field(f.name, typ, f.default, m["help"], m["group"], m["lo"], m["hi"], m["choices"], m["log"],
                         m["zero"], m["nonzero_lo"]))
    return tuple(out)


FIELDS: tuple[Field, ...] = _fields()
FIELD: dict[str, Field] = {f.name: f for f in FIELDS}
GROUPS: tuple[str, ...] = ("data", "network", "regularization", "training")
DEFAULTS = Config()


def validate(values: dict[str, Any] | None = None, **overrides: Any) -> Config:
    """Check every field and the rules between fields; return a frozen Config.

    Missing fields take their defaults; unknown names are an error (a typo must not be ignored).
    """
    raw = {**(values or {}), **overrides}
    unknown = sorted(set(raw) - set(FIELD))
    if unknown:
        raise ConfigError(unknown[0], raw[unknown[0]], "one of the settings " + ", ".join(FIELD))
    parsed = {name: f.parse(raw[name]) if name in raw else f.default for name, f in FIELD.items()}
    cfg = Config(**parsed)
    check_rules(cfg)
    return cfg


def check_rules(cfg: Config) -> None:
    """Rules that involve more than one field."""
    from core import cost  # core.cost imports this module

    if MODELS[cfg.model].needs_images and not DATASETS[cfg.dataset].images:
        images = " or ".join(f"dataset={n}" for n, d in DATASETS.items() if d.images)
        raise ConfigError("model", cfg.model, f"{cfg.model} works on images, so only with {images} "
                                              f"(got {cfg.dataset})")
    source = DATASETS[cfg.dataset]
    if source.fixed and cfg.n_samples > source.size:
        raise ConfigError("n_samples", cfg.n_samples,
                          f"0 (all {source.size}) or {_fmt(FIELD['n_samples'].nonzero_lo)} to {source.size} "
                          f"with dataset={cfg.dataset} (the bundled set has {source.size} examples)")
    if cfg.dataset == "csv" and not cfg.data_path:
        raise ConfigError("data_path", cfg.data_path, "a CSV file path when dataset=csv")
    if cfg.batchnorm and cfg.batch_size == 1:
        # A batch of one has no batch statistics to speak of (variance 0 in an MLP); longer final
        # batches of one are merged into the batch before (core.cost.batches).
        raise ConfigError("batch_size", cfg.batch_size, "0 (full batch) or at least 2 with batchnorm=true "
                                                        "(batch norm needs two examples per batch)")
    if cfg.dataset != "csv":
        n_train, _ = cost.split(cfg)
        if cfg.batch_size > n_train:
            raise ConfigError("batch_size", cfg.batch_size,
                              f"0 (full batch) or 1 to {n_train}, the training examples of these settings")
