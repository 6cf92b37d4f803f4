"""The variants, edited in the main area as one small table: name and the fields that differ.

One row per variant (at most four): `#` (the order they train and are drawn in: change it to
reorder), `name`, and a column per field that some variant changes; an empty cell is "same as
the base settings". Rows are added and removed in the table itself; "Fields that differ" adds or
drops columns. Every edit is checked at once by the one schema (core.config: FIELD[...].parse,
variant_name, Config.replace for the cross-field rules) and an error names the row, the field,
the value and what is allowed; a valid table is written to the variant slots (vA_name, vA_dropout,
…: dashboard.controls.widget_values) that the Train button reads, so the URL (vA=…) follows
from the trained Spec as before.

One table instance, many edits: the editor's data stays the rows it was made from, and its
pending edits (st.data_editor's state) are folded into the slots by `sync` — at the top of every
run of the page and in the Train button's callback — never by an on_change callback with the
rows as captured arguments. Streamlit gives a `num_rows="dynamic"` editor a new identity whenever
its data changes, and the replaced editor's last word is an empty edit state; when Train was
pressed while the edit's rerun still ran, that empty state reached the replaced editor's
on_change with the rows from before the edit, and the slots went back to the old table just
before Train read them. Now an instance keeps its data (and identity) while the user edits, a
new instance (a new key) is made only when the slots were set by someone else (a link, a preset,
another page) or the columns change, and the edits of any other instance are never read.

The sidebar reads `overridden()`: a base setting that every variant sets for itself is shown
disabled with "set per variant", since changing it would serve the same experiment again.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.config import FIELD, VARIANT_NAME_MAX, Config, ConfigError, variant_name
from dashboard.controls import SAME, SLOTS, VARIANT_FIELDS, Spec, auto_name, vkey, widget_values
from dashboard.views.common import load_widgets, md_escape

TABLE = "variants_table"  # the container (and CSS class); the editor's key is TABLE_<generation>
EDITOR = "_variants_editor"  # the table instance on the page: its key, rows, fields and what it wrote
GENERATION = "_variants_generation"
SHOWN_FIELDS = "variants_fields"
ERROR = "_variants_error"
ORDER = "#"


# ------------------------------------------------------------------ pure: slots <-> rows <-> variants
def pending(values: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The variants in the slots (session state), as (name, overrides), in slot order; a slot
    with neither a name nor an override is unused. Values are as the widgets hold them."""
    out = []
    for slot in SLOTS:
        ov: dict[str, Any] = {}
        for f in VARIANT_FIELDS:
            v = values.get(vkey(slot, f))
            if v is None or v == SAME:
                continue
            ov[f] = (v == "on") if FIELD[f].type is bool else v
        name = str(values.get(vkey(slot, "name")) or "").strip()
        if name or ov:
            out.append((name, ov))
    return out


def overridden(variants: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Fields every variant sets for itself (so the base value of them is never used)."""
    if not variants:
        return []
    return [f for f in VARIANT_FIELDS if all(f in ov for _, ov in variants)]


def rows(variants: list[tuple[str, Mapping[str, Any]]], fields: list[str]) -> list[dict[str, Any]]:
    """The table: `#`, name and `fields` (None = same as base; booleans as on/off)."""
    out = []
    for i, (name, ov) in enumerate(variants, 1):
        row: dict[str, Any] = {ORDER: i, "name": name}
        for f in fields:
            v = ov.get(f)
            row[f] = None if v is None else ("on" if v else "off") if FIELD[f].type is bool else v
        out.append(row)
    return out


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def from_rows(table: list[Mapping[str, Any]], base: Config) -> dict[str, dict[str, Any]]:
    """The table's rows -> variants (name -> overrides), ordered by `#` (rows without one last,
    in table order). Raises ConfigError naming the row, the field, the value and what is allowed;
    an empty row is skipped; a row without a name is named from its overrides (as a link's is)."""
    keyed = []
    for i, row in enumerate(table):
        order = row.get(ORDER)
        keyed.append((float("inf") if _blank(order) else float(order), i, row))
    variants: dict[str, dict[str, Any]] = {}
    for _, i, row in sorted(keyed, key=lambda t: (t[0], t[1])):
        raw_name = "" if _blank(row.get("name")) else str(row["name"]).strip()
        where = f"variant row {i + 1}" + (f" ({raw_name[:VARIANT_NAME_MAX]})" if raw_name else "")
        ov: dict[str, Any] = {}
        for f in VARIANT_FIELDS:
            v = row.get(f)
            if _blank(v):
                continue
            if FIELD[f].type is bool:
                if v not in ("on", "off", True, False):
                    raise ConfigError(f"{where}: {f}", v, "on or off (empty = same as base)")
                v = v in ("on", True)
            elif FIELD[f].type is int and isinstance(v, float) and v.is_integer():
                v = int(v)
            try:
                ov[f] = FIELD[f].parse(v)
            except ConfigError as e:
                raise ConfigError(f"{where}: {f}", e.value, e.allowed, e.reason) from None
        if not raw_name and not ov:
            continue
        if raw_name:
            try:
                name = variant_name(raw_name)
            except ConfigError as e:
                raise ConfigError(f"{where}: name", e.value, e.allowed, e.reason) from None
        else:
            name = auto_name(ov)
        if name in variants:
            raise ConfigError(f"{where}: name", name, "a name no other variant has")
        try:
            base.replace(**ov)
        except ConfigError as e:
            raise ConfigError(f"{where} ({name}): {e.field}", e.value, e.allowed, e.reason) from None
        variants[name] = ov
        if len(variants) > len(SLOTS):
            raise ConfigError("variants", len(variants), f"at most {len(SLOTS)} variants (remove a row)")
    return variants


def slot_values(base: Config, variants: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Session-state values of the variant slots for these variants (the rest cleared)."""
    every = widget_values(Spec.make(base, variants))
    return {k: v for k, v in every.items() if k[:1] == "v" and k[1:2] in SLOTS and k[2:3] == "_"}


# ------------------------------------------------------------------ the table on the page
def _columns(fields: list[str]) -> dict[str, Any]:
    cc = st.column_config
    cols: dict[str, Any] = {
        ORDER: cc.NumberColumn(ORDER, help="The order the variants train and are drawn in: change it to reorder.",
                               min_value=1, max_value=99, step=1, width="small"),
        "name": cc.TextColumn("name", help="Plain text: letters, digits, space and + - . , ( ) _ : / %. "
                                          "Empty: named from its settings.", max_chars=VARIANT_NAME_MAX),
    }
    for f in fields:
        fd = FIELD[f]
        help_ = f"{fd.help}. Empty = same as the base settings. Allowed: {fd.allowed()}."
        if fd.type is bool:
            cols[f] = cc.SelectboxColumn(f, options=["on", "off"], help=help_)
        elif fd.choices is not None:
            cols[f] = cc.SelectboxColumn(f, options=list(fd.choices), help=help_)
        elif fd.type is int:
            cols[f] = cc.NumberColumn(f, min_value=int(fd.lo), max_value=None if fd.hi is None else int(fd.hi),
                                      step=1, help=help_)
        else:
            cols[f] = cc.NumberColumn(f, min_value=float(fd.lo), max_value=float(fd.hi), format="%g", help=help_)
    return cols


def apply_edits(shown_rows: list[dict[str, Any]], edits: Mapping[str, Any], base: Config) -> dict[str, dict[str, Any]]:
    """The table's edits (st.data_editor's state: edited_rows {row: {column: value}}, added_rows
    [{column: value}], deleted_rows [row]) applied to the rows it showed -> variants (from_rows;
    ConfigError naming row and field)."""
    table = [dict(r) for r in shown_rows]
    for i, change in (edits.get("edited_rows") or {}).items():
        table[int(i)].update(change)
    deleted = {int(i) for i in edits.get("deleted_rows") or []}
    table = [r for i, r in enumerate(table) if i not in deleted] + [dict(r) for r in edits.get("added_rows") or []]
    return from_rows(table, base)


def _live(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The table instance whose edits may still be folded into the slots, or None: an instance is
    out of date once the slots hold something else than it last wrote (a link, a preset or a
    trained spec loaded them) or its edit state is gone (Streamlit drops it while another page runs)."""
    ed = values.get(EDITOR)
    if ed is None or ed["key"] not in values or pending(values) != ed["wrote"]:
        return None
    return ed


def sync(base: Config) -> str | None:
    """Fold the table's pending edits into the variant slots (the ones Train reads): its edits
    applied to the rows it shows, checked; None when the slots now hold the table, else the error
    (named row and field; the slots keep the last valid table). Idempotent: call it at the top of
    a run of the page and before reading the slots in a callback."""
    ss = st.session_state
    ed = _live(ss)
    if ed is None:
        if ss.get(EDITOR) is not None:
            ss[EDITOR], ss[ERROR] = None, None
        return None
    try:
        variants = apply_edits(ed["rows"], ss[ed["key"]] or {}, base)
    except ConfigError as e:
        ss[ERROR] = str(e)
        return ss[ERROR]
    ss[ERROR] = None
    load_widgets(slot_values(base, variants))
    ss[EDITOR] = {**ed, "wrote": pending(ss)}
    return None


def _instance(variants: list[tuple[str, dict[str, Any]]], fields: list[str]) -> dict[str, Any]:
    """The table instance to draw: the live one while it shows these columns, else a new one
    (a new key, so no edit state of an earlier table applies to it) made from the slots."""
    ss = st.session_state
    ed = _live(ss)
    if ed is not None and ed["fields"] == fields:
        return ed
    gen = int(ss.get(GENERATION, 0)) + 1
    ss[GENERATION] = gen
    ss[EDITOR] = {"key": f"{TABLE}_{gen}", "rows": rows(variants, fields), "fields": fields, "wrote": variants}
    ss[ERROR] = None
    return ss[EDITOR]


def _frame(shown_rows: list[dict[str, Any]], fields: list[str]):
    """The rows as a DataFrame with typed columns (an empty table still has its columns)."""
    import pandas as pd

    df = pd.DataFrame(shown_rows, columns=[ORDER, "name", *fields])
    types = {ORDER: "Int64", "name": "string"}
    for f in fields:
        fd = FIELD[f]
        types[f] = "string" if fd.type is bool or fd.choices is not None else "Int64" if fd.type is int else "Float64"
    return df.astype(types)


def _fields_changed() -> None:
    st.session_state[ERROR] = None


def differs(spec: Spec, variants: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether the table holds other variants (names, changes or order) than the run of `spec`."""
    table = [(n or auto_name(ov), dict(sorted(ov.items()))) for n, ov in variants]
    return table != [(n, dict(ov)) for n, ov in spec.variants]


def editor(spec: Spec) -> None:
    """The variants table (main area). The Train button (sidebar) trains what it holds."""
    ss = st.session_state
    variants = pending(ss)
    used = [f for f in VARIANT_FIELDS if any(f in ov for _, ov in variants)]
    if SHOWN_FIELDS not in ss or any(f not in ss[SHOWN_FIELDS] for f in used):
        ss[SHOWN_FIELDS] = list(dict.fromkeys([*ss.get(SHOWN_FIELDS, []), *used])) or ["activation", "dropout"]
    names = " · ".join(n or auto_name(ov) for n, ov in variants) or "none: one run of the base settings"
    with st.expander(f"Variants: {names} (edit)", expanded=False, icon=":material/table_rows:"):
        fields = st.multiselect("Fields that differ", list(VARIANT_FIELDS), key=SHOWN_FIELDS,
                                on_change=_fields_changed,
                                help="Columns of the table. A field no variant sets uses the base settings.")
        fields = [f for f in VARIANT_FIELDS if f in fields]
        ed = _instance(variants, fields)  # its edits are in the slots already (sync, top of the page)
        with st.container(key=TABLE):
            st.data_editor(_frame(ed["rows"], fields), key=ed["key"], num_rows="dynamic", hide_index=True,
                           width="stretch", column_order=[ORDER, "name", *fields], column_config=_columns(fields))
        if ss.get(ERROR):
            st.error(md_escape(ss[ERROR]), icon=":material/error:")
        elif differs(spec, variants):
            st.info("These variants differ from the run on screen: press ▶ Train to train them.",
                    icon=":material/edit_note:")
        st.caption("Empty cell = same as the base settings (sidebar). Type in the empty last row to add a variant; "
                   "select a row at its left edge and press Delete to remove it; `#` sets the order. All train on "
                   "the same data with the same seeds; press ▶ Train to run them.")
