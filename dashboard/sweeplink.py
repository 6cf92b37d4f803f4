"""A sweep <-> the Sweep page's URL, from the schema (core.config) and core.sweep. No Streamlit.

    preset=<name>|none          start from a sweep preset (core.sweep.SWEEP_PRESETS; missing:
                                dropout-sweep; `none`: the schema defaults, dropout swept)
    grid=<field>:<v1>,<v2>,...  the swept setting (the charts' x axis) and its values
    grid2=<field>:<v1>,...      a second swept setting: one line per value (`grid2=none`: no second)
    <field>=<value>             base settings by schema name (epochs=50, seeds=5, dataset=digits),
                                as on the Lab page (dashboard/controls.py: the same QUERY_KEYS)

If `grid` or `grid2` is given, the sweep's grid is exactly what the link gives; else the preset's.
The writer is minimal (only what differs from the preset) and the reader never raises: a bad
value is dropped with one warning naming the parameter, the value (cut) and what is allowed, and
the preset's value stays.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.config import FIELD, Config, ConfigError, validate
from core.safetext import shown
from core.sweep import GRID_DEFAULTS, SWEEP_PRESETS, SWEEPABLE, Sweep, parse_grid
from dashboard.charts.sweep import pretty
from dashboard.controls import MAX_LINK_PARAMS, QUERY_KEYS, _fmt_url

DEFAULT_SWEEP = "dropout-sweep"
NO_PRESET = "none"
GRID_KEYS = ("grid", "grid2")
OTHER_KEYS = {"preset", "mode", *GRID_KEYS}
FIELD_OF_KEY = {v: k for k, v in QUERY_KEYS.items()}


def grid_allowed() -> str:
    return f"field:value,value,... with a field of {', '.join(SWEEPABLE)}"


def default_sweep(name: str = DEFAULT_SWEEP) -> Sweep:
    if name in SWEEP_PRESETS:
        return SWEEP_PRESETS[name]
    return Sweep(Config(), {"dropout": GRID_DEFAULTS["dropout"]})


def parse_one(key: str, raw: str) -> tuple[str, tuple]:
    """'field:v1,v2' (or 'field=v1,v2') -> (field, values); ConfigError naming field and value."""
    raw = raw.strip()
    sep = min((i for i in (raw.find(":"), raw.find("=")) if i >= 0), default=-1)
    if sep < 0:
        raise ConfigError(key, raw, grid_allowed())
    field = raw[:sep].strip()
    if field not in SWEEPABLE:
        raise ConfigError(key, field, ", ".join(SWEEPABLE), "not a setting that can be swept")
    ((name, values),) = parse_grid([f"{field}={raw[sep + 1:]}"]).items()
    return name, tuple(values)


def encode_grid(field: str, values) -> str:
    return f"{field}:{pretty(values)}"


def sweep_from_query(q: Mapping[str, Any]) -> tuple[Sweep, list[str]]:
    """Query parameters -> (Sweep, warnings). Never raises on user input."""
    warnings: list[str] = []
    if len(q) > MAX_LINK_PARAMS:
        warnings.append(f"this link has {len(q)} parameters; only the first {MAX_LINK_PARAMS} are read")
        q = dict(list(q.items())[:MAX_LINK_PARAMS])
    q = {k: (str(v[-1]) if isinstance(v, (list, tuple)) and v else str(v)) for k, v in q.items()}
    name = q.get("preset", DEFAULT_SWEEP).strip() or DEFAULT_SWEEP
    if name != NO_PRESET and name not in SWEEP_PRESETS:
        warnings.append(f"preset: {shown(name)} is not a sweep preset; using {DEFAULT_SWEEP} "
                        f"(allowed: {', '.join(SWEEP_PRESETS)}, {NO_PRESET})")
        name = DEFAULT_SWEEP
    start = default_sweep(name)
    vals = start.base.to_dict()
    unknown = []
    for key, raw in q.items():
        if key in FIELD_OF_KEY:
            try:
                vals[FIELD_OF_KEY[key]] = FIELD[FIELD_OF_KEY[key]].parse(raw)
            except ConfigError as e:
                warnings.append(f"{e}; using the preset's value")
        elif key not in OTHER_KEYS:
            unknown.append(key)
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        warnings.append(f"{', '.join(shown(k, 40) for k in unknown[:3])}{more}: unknown parameter"
                        f"{'s' if len(unknown) > 1 else ''}, ignored (allowed: settings names, preset, grid, grid2)")
    if vals.get("dataset") == "csv":
        warnings.append(f"dataset: 'csv' cannot be swept on this page; using {start.base.dataset} "
                        "(allowed: the built-in data sets)")
        vals["dataset"], vals["data_path"] = start.base.dataset, ""
    base = _valid_base(vals, start.base, warnings)
    grid = _grid(q, start, warnings)
    try:  # every point is checked against the base settings
        sweep = Sweep(base, grid, title=start.title, preset=start.preset)
    except ConfigError as e:
        warnings.append(f"{e}; using the preset's sweep")
        sweep = start
    return sweep, warnings


def _grid(q: Mapping[str, str], start: Sweep, warnings: list[str]) -> dict[str, tuple]:
    own = list(start.grid)
    if not any(k in q for k in GRID_KEYS):
        return dict(own)
    grid: dict[str, tuple] = {}
    for i, key in enumerate(GRID_KEYS):
        raw = q.get(key, "").strip()
        if key == "grid2" and raw.lower() in ("", NO_PRESET):
            continue
        if not raw:  # grid2 without grid: the preset's first field stays the x axis
            if i < len(own):
                grid[own[i][0]] = own[i][1]
            continue
        try:
            field, values = parse_one(key, raw)
        except ConfigError as e:
            fallback = own[i] if i < len(own) else None
            then = f"sweeping {fallback[0]} as the preset does" if fallback else "ignored"
            said = str(e) if e.field == key else f"{key}: {e}"  # the parameter named once
            warnings.append(f"{said}; {then}")
            if fallback and fallback[0] not in grid:
                grid[fallback[0]] = fallback[1]
            continue
        if field in grid:
            warnings.append(f"{key}: {field} is already swept by grid; ignored (allowed: two different settings)")
            continue
        grid[field] = values
    return grid or dict(own)


def _valid_base(vals: dict[str, Any], fallback: Config, warnings: list[str]) -> Config:
    """Validate; a rule between fields that fails resets the field it names to the preset's value."""
    for _ in range(len(vals) + 2):
        try:
            return validate(vals)
        except ConfigError as e:
            if e.field not in FIELD or vals.get(e.field) == getattr(fallback, e.field):
                break
            warnings.append(f"{e}; using {e.field}={getattr(fallback, e.field)!r} instead")
            vals[e.field] = getattr(fallback, e.field)
    return fallback


def sweep_to_query(sweep: Sweep) -> dict[str, str]:
    """Sweep -> minimal query parameters (inverse of sweep_from_query)."""
    name = sweep.preset if sweep.preset in SWEEP_PRESETS else NO_PRESET
    start = default_sweep(name)
    q: dict[str, str] = {"preset": name}
    ref, cur = start.base.to_dict(), sweep.base.to_dict()
    for field, key in QUERY_KEYS.items():
        if cur[field] != ref[field]:
            q[key] = _fmt_url(cur[field])
    grid = list(sweep.grid)
    if grid != list(start.grid):
        for key, (f, v) in zip(GRID_KEYS, grid, strict=False):
            q[key] = encode_grid(f, v)
        if len(grid) == 1:
            q["grid2"] = NO_PRESET
    if q == {"preset": DEFAULT_SWEEP}:
        return {}
    return q
