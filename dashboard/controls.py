"""Settings: the schema (core.config.FIELDS) drives the widgets, the URL and the variant editor.

URL query string (read by `spec_from_query`, written by `spec_to_query`; `QUERY_KEYS` is the one
table of field <-> key, used both ways):

    preset=<name>|none     start from a preset's base settings and variants (missing: relu-vs-dropout;
                           `none`: the schema defaults and a single run)
    <field>=<value>        any schema field except data_path, by its schema name, e.g. lr=0.003,
                           activation=tanh, batchnorm=true, scaling=global; overrides the preset's
                           base settings. n_samples=0 (the default) is the whole data set; the
                           page shows the number of examples it stands for (examples_note).
    vA … vD=<name>|<field>:<value>,<field>:<value>
                           the variants to compare (at most four). If any vX is given they replace
                           the preset's variants. `<name>|` may be left out (the name is then made
                           from the overrides); `vA=plain|` is a variant with no overrides.
                           Variant fields: VARIANT_FIELDS. Example: vA=ReLU|activation:relu
                           &vB=dropout|activation:relu,dropout:0.5. A name is plain text
                           (core.config.variant_name: letters, digits, space, `+-.,()_:/%`, at
                           most 40 characters); any other name is replaced by one made from the
                           overrides, with a warning.
    data=<hex>             an uploaded CSV on this server, by content hash (dataset=csv)
    mode=seminar           large presets buttons and fonts for a projector

The writer is minimal: it writes only fields that differ from the preset's base settings and
writes variants only when they differ from the preset's, so a link stays short. A malformed or
out-of-range value never raises: the reader drops it, keeps the default and returns a warning
naming the parameter, the value (cut to 80 characters) and what is allowed. Numbers are read by
core.numbers, as in the CLI and the CSV loader. A link with more than MAX_LINK_PARAMS parameters
is read up to that many, with a warning saying how many were ignored. (Streamlit itself drops a
whole query string of more than 1,000 parameters or 512 KiB before the page sees it: such a link
opens the default experiment, and only the browser can tell: dashboard.views.common's
long_link_probe warns there.)
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core import cost
from core.config import FIELD, FIELDS, GROUPS, VARIANT_NAME_MAX, Config, ConfigError, validate, variant_name
from core.presets import PRESETS
from core.safetext import shown

DEFAULT_PRESET = "relu-vs-dropout"
NO_PRESET = "none"
SLOTS = ("A", "B", "C", "D")
# Fields a variant may change: everything about the network and its training except what must
# stay identical for a fair comparison (data, seeds, epochs).
VARIANT_FIELDS = ("activation", "dropout", "weight_decay", "batchnorm", "init", "lr", "optimizer",
                  "depth", "width", "batch_size")
URL_FIELDS = tuple(f.name for f in FIELDS if f.name != "data_path")  # a server path never comes from a URL
# The one table: schema field -> query key (identity by design: the schema names are the keys).
QUERY_KEYS: dict[str, str] = {name: name for name in URL_FIELDS}
FIELD_OF_KEY: dict[str, str] = {v: k for k, v in QUERY_KEYS.items()}
VARIANT_KEYS: dict[str, str] = {s: f"v{s}" for s in SLOTS}
OTHER_KEYS = {"preset", "data", "mode"}
# Parameters read from one link: every key above fits several times over, and a hostile link
# with thousands costs no more than this to read.
MAX_LINK_PARAMS = 100
# Grids for the log-scale fields (weight decay is log-scaled in the widgets too; 0 = off).
LOG_GRIDS = {
    "lr": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    "weight_decay": (0.0, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0),
}
UPLOAD_DIR = os.path.join(tempfile.gettempdir(), "relu-dropout-lab-uploads")
_HEX = re.compile(r"[0-9a-f]{16,64}")


@dataclass(frozen=True)
class Spec:
    """What to train: base settings, the variants (name -> overrides) and the preset it came from."""

    base: Config
    variants: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    preset: str = NO_PRESET

    @classmethod
    def make(cls, base: Config, variants: Mapping[str, Mapping[str, Any]] | None, preset: str = NO_PRESET) -> Spec:
        vs = tuple((name, tuple((k, ov[k]) for k in sorted(ov))) for name, ov in (variants or {}).items())
        return cls(base, vs, preset)

    def variant_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dict(ov) for name, ov in self.variants} or {"run": {}}

    def key(self) -> str:
        blob = repr((self.base.key(), self.variants))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    @property
    def title(self) -> str:
        p = PRESETS.get(self.preset)
        if p is None:
            return "Your experiment"
        return p.title if self.matches_preset() else f"{p.title} (changed)"

    def matches_preset(self) -> bool:
        """The preset's variants, each trained with the preset's settings: a base value every variant
        overrides (a link's dropout=0.3, warned as not used) changes nothing, so it is no "(changed)"."""
        ref = preset_spec(self.preset) if self.preset in PRESETS else None
        return ref is not None and self.variants == ref.variants and self.configs() == ref.configs()

    def configs(self) -> list[Config]:  # what each variant trains with: the base and its fields
        return [self.base.replace(**ov) for ov in self.variant_dict().values()]


def preset_spec(name: str) -> Spec:
    p = PRESETS[name]
    base = validate({**p.base})
    return Spec.make(base, p.variants, name)


def default_spec() -> Spec:
    return preset_spec(DEFAULT_PRESET)


# ------------------------------------------------------------------ variants: text encoding
def auto_name(ov: Mapping[str, Any]) -> str:
    """A variant name made from its overrides; always a valid variant name (at most 40 characters)."""
    if not ov:
        return "base"
    name = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in ov.items())
    return name if len(name) <= VARIANT_NAME_MAX else name[:VARIANT_NAME_MAX].rstrip(" ,.")


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def encode_variant(name: str, ov: Mapping[str, Any]) -> str:
    body = ",".join(f"{k}:{_fmt_url(v)}" for k, v in ov.items())
    return f"{name}|{body}"


def _fmt_url(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if v != int(v) or abs(v) >= 1e16 else f"{v:g}"
    return str(v)


def decode_variant(key: str, raw: str) -> tuple[str | None, dict[str, Any], list[str]]:
    """'name|field:value,...' -> (name or None, overrides, warnings). Bad pieces are dropped."""
    warnings: list[str] = []
    name: str | None = None
    bad_name = False
    body = raw
    if "|" in raw:
        name, body = raw.split("|", 1)
        name = name.strip() or None
        if name is not None:
            try:
                name = variant_name(name)
            except ConfigError as e:
                warnings.append(f"{key}: {e}; the variant is named from its settings instead")
                name, bad_name = None, True
    ov: dict[str, Any] = {}
    allowed = f"name|field:value,... with fields {', '.join(VARIANT_FIELDS)}"
    for piece in filter(None, (p.strip() for p in body.split(","))):
        if ":" not in piece:
            warnings.append(f"{key}: {shown(piece)} is not field:value; ignored (allowed: {allowed})")
            continue
        f, v = (s.strip() for s in piece.split(":", 1))
        if f not in VARIANT_FIELDS:
            warnings.append(f"{key}: {shown(f)} cannot be varied; ignored (allowed fields: {', '.join(VARIANT_FIELDS)})")
            continue
        try:
            ov[f] = FIELD[f].parse(v)
        except ConfigError as e:
            why = f" ({e.reason})" if e.reason else ""
            warnings.append(f"{key}: {f}={shown(v)} is not allowed{why}, ignored; allowed: {e.allowed}")
    if bad_name:
        return auto_name(ov), ov, warnings
    if not ov and name is None:
        if body.strip():
            warnings.append(f"{key}: {shown(raw)} was not understood; variant ignored (allowed: {allowed})")
        return None, {}, warnings
    return name, ov, warnings


# ------------------------------------------------------------------ URL read / write
def _one(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return str(v[-1]) if v else ""
    return str(v)


def upload_path(digest: str) -> str:
    """Where the upload a link names by its digest is (core.serve.uploads.Uploads keeps it there)."""
    return os.path.join(UPLOAD_DIR, f"{digest}.csv")


def digest_of(path: str) -> str:
    base = os.path.basename(path)
    return base[:-4] if base.endswith(".csv") and os.path.dirname(path) == UPLOAD_DIR else ""


def spec_from_query(q: Mapping[str, Any], may_use: Callable[[str], bool] | None = None) -> tuple[Spec, list[str]]:
    """Query parameters -> (Spec, warnings). Never raises on user input. may_use(digest): whether
    this session may train on that upload (hosted: its own, or a shared one; None: any here)."""
    warnings: list[str] = []
    if len(q) > MAX_LINK_PARAMS:
        warnings.append(f"this link has {len(q)} parameters; only the first {MAX_LINK_PARAMS} are read, "
                        f"so {len(q) - MAX_LINK_PARAMS} were ignored (a link of this page needs fewer than 30)")
        q = dict(list(q.items())[:MAX_LINK_PARAMS])
    q = {k: _one(v) for k, v in q.items()}
    preset = q.get("preset", DEFAULT_PRESET).strip() or DEFAULT_PRESET
    if preset != NO_PRESET and preset not in PRESETS:
        warnings.append(f"preset: {shown(preset)} is not a preset; using {DEFAULT_PRESET} "
                        f"(allowed: {', '.join(PRESETS)}, {NO_PRESET})")
        preset = DEFAULT_PRESET
    if preset == NO_PRESET:
        base_vals: dict[str, Any] = {}
        variants: dict[str, dict[str, Any]] = {}
    else:
        base_vals = dict(PRESETS[preset].base)
        variants = {k: dict(v) for k, v in PRESETS[preset].variants.items()}
    unknown = []
    for key, raw in q.items():
        if key in FIELD_OF_KEY:
            f = FIELD[FIELD_OF_KEY[key]]
            try:
                base_vals[f.name] = f.parse(raw)
            except ConfigError as e:
                warnings.append(f"{e}; using the default")
        elif key not in OTHER_KEYS and key not in VARIANT_KEYS.values():
            unknown.append(key)
    if unknown:  # one warning, however many: a link must not be able to fill the page with them
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        names = ", ".join(shown(k, 40) for k in unknown[:3]) + more
        warnings.append(f"{names}: unknown parameter{'s' if len(unknown) > 1 else ''}, ignored "
                        "(allowed: settings names, preset, vA-vD, data, mode)")
    # Uploaded data, by content hash; only a file this server wrote itself.
    digest = q.get("data", "").strip().lower()
    if digest:
        if _HEX.fullmatch(digest) and os.path.isfile(upload_path(digest)) and (may_use is None or may_use(digest)):
            base_vals["data_path"] = upload_path(digest)
        else:  # one message whether it is missing or someone else's: a link learns nothing
            warnings.append(f"data: {shown(digest, 40)} is not an uploaded file on this server that you can use; "
                            "upload the CSV again (allowed: the hash this page wrote; on a hosted demo a file is "
                            "usable only in the browser tab that uploaded it, and by its link if that tab ticked "
                            "Share by link)")
    if base_vals.get("dataset") == "csv" and not base_vals.get("data_path"):
        fallback = FIELD["dataset"].default if preset == NO_PRESET else PRESETS[preset].base.get("dataset", "moons")
        fallback = fallback if fallback != "csv" else "moons"
        warnings.append(f"dataset: 'csv' needs an uploaded file; using {fallback} "
                        "(allowed: upload a CSV under Data)")
        base_vals["dataset"] = fallback
    base = _valid_base(base_vals, preset, warnings)
    given = [s for s in SLOTS if VARIANT_KEYS[s] in q]
    if given:
        parsed: dict[str, dict[str, Any]] = {}
        for s in given:
            name, ov, w = decode_variant(VARIANT_KEYS[s], q[VARIANT_KEYS[s]])
            warnings += w
            if name is None and not ov:
                continue
            name = _unique(name or auto_name(ov), parsed)
            parsed[name] = ov
        if parsed:
            variants = parsed
        elif not variants:
            variants = {}
    variants = _valid_variants(base, variants, warnings)
    for f in VARIANT_FIELDS:  # a base value every variant replaces would be silently ignored
        if QUERY_KEYS[f] in q and variants and all(f in ov for ov in variants.values()):
            warnings.append(f"{f}={shown(q[QUERY_KEYS[f]])}: every variant sets its own {f}, so the base value is "
                            f"not used (allowed: {f} per variant, e.g. vA=name|{f}:value)")
    return Spec.make(base, variants, preset), warnings


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    """`name`, or `name (2)`, `name (3)`, … if taken: shortened so it stays a valid variant name."""
    out, k = name, 2
    while out in taken:
        tag = f" ({k})"
        out, k = name[:VARIANT_NAME_MAX - len(tag)].rstrip() + tag, k + 1
    return out


def _valid_base(vals: dict[str, Any], preset: str, warnings: list[str]) -> Config:
    """Validate; a cross-field rule that fails resets the named field (then its preset value, then
    the schema default), with a warning, until the settings are valid."""
    preset_base = PRESETS[preset].base if preset in PRESETS else {}
    for _ in range(len(FIELDS) + 2):
        try:
            return validate(vals)
        except ConfigError as e:
            name = e.field if e.field in FIELD else None
            if name is None:
                break
            fallback = preset_base.get(name, FIELD[name].default)
            if vals.get(name, FIELD[name].default) == fallback:
                fallback = FIELD[name].default
            if name == "dataset" and fallback == "csv":
                fallback = "moons"
            warnings.append(f"{e}; using {name}={fallback!r} instead")
            vals[name] = fallback
            if name == "dataset" and vals.get("model") == "cnn" and fallback != "digits":
                vals["model"] = "mlp"
    return validate(preset_base) if preset_base else Config()


def _valid_variants(base: Config, variants: dict[str, dict[str, Any]], warnings: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, ov in list(variants.items())[: len(SLOTS)]:
        ov = dict(ov)
        for _ in range(len(ov) + 1):
            try:
                base.replace(**ov)
                break
            except ConfigError as e:
                warnings.append(f"variant {name!r}: {e}; that change is dropped")
                ov.pop(e.field, None)
        else:
            continue
        out[name] = ov
    if len(variants) > len(SLOTS):
        warnings.append(f"only {len(SLOTS)} variants can be compared; the rest are ignored")
    return out


def spec_to_query(spec: Spec, mode: str = "") -> dict[str, str]:
    """Spec -> minimal query parameters (inverse of spec_from_query)."""
    q: dict[str, str] = {"preset": spec.preset}
    if spec.preset in PRESETS:
        ref_base = validate({**PRESETS[spec.preset].base}).to_dict()
        ref_variants = preset_spec(spec.preset).variants
    else:
        ref_base, ref_variants = Config().to_dict(), ()
    cur = spec.base.to_dict()
    for name, key in QUERY_KEYS.items():
        if cur[name] != ref_base[name]:
            q[key] = _fmt_url(cur[name])
    if spec.variants != ref_variants:
        for slot, (name, ov) in zip(SLOTS, spec.variants, strict=False):
            q[VARIANT_KEYS[slot]] = encode_variant(name, dict(ov))
    if spec.base.data_path:
        d = digest_of(spec.base.data_path)
        if d:
            q["data"] = d
    if mode:
        q["mode"] = mode
    if q == {"preset": DEFAULT_PRESET}:
        return {} if not mode else {"mode": mode}
    return q


def has_settings(q: Mapping[str, Any]) -> bool:
    return any(k != "mode" for k in q)


# ------------------------------------------------------------------ widgets <-> spec
def wkey(name: str) -> str:
    return f"f_{name}"


def vkey(slot: str, name: str) -> str:
    return f"v{slot}_{name}"


SAME = "same as base"


def log_options(name: str, value: float) -> list[float]:
    grid = set(LOG_GRIDS[name])
    grid.add(float(value))
    return sorted(grid)


def widget_values(spec: Spec) -> dict[str, Any]:
    """Session-state values of every settings widget for this spec (base fields and variant slots)."""
    out: dict[str, Any] = {wkey(f.name): getattr(spec.base, f.name) for f in FIELDS}
    vs = list(spec.variants)
    for i, slot in enumerate(SLOTS):
        name, ov = vs[i] if i < len(vs) else ("", ())
        ov = dict(ov)
        out[vkey(slot, "name")] = name
        for f in VARIANT_FIELDS:
            v = ov.get(f)
            if FIELD[f].type is bool:
                out[vkey(slot, f)] = SAME if v is None else ("on" if v else "off")
            elif FIELD[f].choices is not None:
                out[vkey(slot, f)] = SAME if v is None else v
            else:
                out[vkey(slot, f)] = v  # None = same as base
    return out


def spec_from_widgets(values: Mapping[str, Any], preset: str, data_path: str = "") -> Spec:
    """Widget values -> Spec. Raises ConfigError (field, value, allowed) for a bad combination."""
    base_vals = {f.name: values[wkey(f.name)] for f in FIELDS if wkey(f.name) in values}
    base_vals["data_path"] = data_path if base_vals.get("dataset") == "csv" else ""
    base = validate(base_vals)
    variants: dict[str, dict[str, Any]] = {}
    for slot in SLOTS:
        ov: dict[str, Any] = {}
        for f in VARIANT_FIELDS:
            v = values.get(vkey(slot, f))
            if v is None or v == SAME:
                continue
            if FIELD[f].type is bool:
                v = v == "on"
            ov[f] = FIELD[f].parse(v)
        name = str(values.get(vkey(slot, "name")) or "").strip()
        if not name and not ov:
            continue
        if name:
            try:
                name = variant_name(name)
            except ConfigError as e:
                raise ConfigError(f"variant {slot}: variant name", e.value, e.allowed, e.reason) from None
        name = _unique(name or auto_name(ov), variants)
        try:
            base.replace(**ov)
        except ConfigError as e:
            raise ConfigError(f"variant {slot} ({name}): {e.field}", e.value, e.allowed) from None
        variants[name] = ov
    return Spec.make(base, variants, preset)


def grouped_fields() -> dict[str, list]:
    return {g: [f for f in FIELDS if f.group == g and f.name != "data_path"] for g in GROUPS}


def examples_note(cfg: Config) -> str:
    """The examples these settings really use (core.cost.examples), for the page: n_samples 0
    stands for the whole data set, and a CSV always uses every row."""
    n_train, n_val = cost.split(cfg)
    if cfg.dataset == "csv":
        why = "every row of the CSV"
    elif cfg.n_samples == 0:
        why = "n samples 0 = all of the data set"
    else:
        why = f"n samples {cfg.n_samples}"
    return f"{n_train + n_val:,} examples ({why}): {n_train:,} for training, {n_val:,} for validation."
