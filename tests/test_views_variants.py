"""The variants table (dashboard/views/variants.py): rows <-> variants checked by the schema with
named-field errors, reorder by `#`, the URL round trip, and a base setting every variant
overrides shown as such (sidebar) and warned about (link)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import ConfigError, validate
from core.presets import PRESETS
from dashboard.controls import Spec, preset_spec, spec_from_query, spec_to_query, widget_values
from dashboard.views.variants import ORDER, from_rows, overridden, pending, rows, slot_values

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _table(spec: Spec) -> list[dict]:
    vs = pending(widget_values(spec))
    return rows(vs, [f for f in ("activation", "dropout", "weight_decay", "batchnorm", "init", "lr", "optimizer",
                                 "depth", "width", "batch_size") if any(f in ov for _, ov in vs)])


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_presets_variants_survive_the_table_and_the_link(name):
    spec = preset_spec(name)
    variants = from_rows(_table(spec), spec.base)
    again = Spec.make(spec.base, variants, name)
    assert again == spec  # names, overrides and order
    edited = Spec.make(spec.base, dict(reversed(list(variants.items()))), name)  # reordered: a link says so
    q = spec_to_query(edited)
    assert "vA" in q and spec_from_query(q) == (edited, [])


def test_rows_show_only_what_differs_and_empty_means_base():
    spec = preset_spec("relu-vs-dropout")
    t = _table(spec)
    assert [r["name"] for r in t] == list(PRESETS["relu-vs-dropout"].variants)
    assert set(t[0]) == {ORDER, "name", "activation", "dropout"}
    t.append({ORDER: None, "name": None, "activation": None, "dropout": None})  # an added, empty row is no variant
    assert list(from_rows(t, spec.base)) == list(PRESETS["relu-vs-dropout"].variants)
    t[-1] = {ORDER: None, "name": None, "activation": "tanh", "dropout": None}  # no name: named from its settings
    assert from_rows(t[1:], spec.base)["activation tanh"] == {"activation": "tanh"}


def test_hash_column_reorders_and_rows_can_be_removed():
    base = validate()
    t = [{ORDER: 2, "name": "first", "dropout": 0.1}, {ORDER: 1, "name": "second", "dropout": 0.2},
         {ORDER: None, "name": "unnumbered", "dropout": 0.3}]
    assert list(from_rows(t, base)) == ["second", "first", "unnumbered"]
    assert list(from_rows(t[1:], base)) == ["second", "unnumbered"]


@pytest.mark.parametrize("row, field, message", [
    ({"name": "x", "dropout": 1.5}, "variant row 1 (x): dropout", "from 0 to 0.95"),
    ({"name": "x", "width": 0.0}, "variant row 1 (x): width", "from 1 to 1024"),
    ({"name": "x", "batchnorm": "maybe"}, "variant row 1 (x): batchnorm", "on or off"),
    ({"name": "<b>", "dropout": 0.1}, "variant row 1 (<b>): name", "letters"),
    ({"name": "bn", "batchnorm": "on", "batch_size": 1}, "variant row 1 (bn) (bn): batch_size", ""),
])
def test_a_bad_cell_is_one_error_naming_row_field_and_what_is_allowed(row, field, message):
    with pytest.raises(ConfigError) as e:
        from_rows([row], validate())
    assert e.value.field == field and message in str(e.value), str(e.value)


def test_duplicate_names_and_a_fifth_variant_are_refused():
    base = validate()
    with pytest.raises(ConfigError, match="a name no other variant has"):
        from_rows([{"name": "a", "dropout": 0.1}, {"name": "a", "dropout": 0.2}], base)
    with pytest.raises(ConfigError, match="at most 4 variants"):
        from_rows([{"name": f"v{i}", "dropout": i / 10} for i in range(5)], base)


def test_the_table_writes_the_slots_the_train_button_reads():
    base = validate()
    values = slot_values(base, {"plain": {}, "drop": {"dropout": 0.5}})
    assert values["vA_name"] == "plain" and values["vB_dropout"] == 0.5 and values["vC_name"] == ""
    assert pending(values) == [("plain", {}), ("drop", {"dropout": 0.5})]


def test_a_field_every_variant_sets_is_overridden():
    assert overridden(pending(widget_values(preset_spec("relu-vs-dropout")))) == ["activation", "dropout"]
    assert overridden([]) == [] and overridden([("a", {"dropout": 0.1}), ("b", {})]) == []


def test_a_link_changing_an_overridden_base_setting_warns():
    spec, warnings = spec_from_query({"dropout": "0.3"})
    assert spec.base.dropout == 0.3 and len(warnings) == 1
    assert warnings[0].startswith("dropout='0.3': every variant sets its own dropout, so the base value is not used")
    assert spec_from_query({"lr": "0.003"})[1] == []  # lr is not set per variant in the default preset


def test_the_sidebar_shows_an_overridden_setting_as_set_per_variant():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update({"epochs": "2", "seeds": "1"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    dropout = next(s for s in at.sidebar.slider if s.key == "f_dropout")
    assert dropout.disabled
    assert any("set per variant: dropout" in c.value for c in at.sidebar.caption)
    lr = next(s for s in at.sidebar.select_slider if s.key == "f_lr")
    assert not lr.disabled
    assert any(s.key == "variants_fields" for s in at.multiselect)  # the table's column picker, main area


def test_the_editors_edits_add_remove_and_change_variants():
    """st.data_editor's state (edited_rows, added_rows, deleted_rows) applied to the rows shown."""
    from dashboard.views.variants import apply_edits

    spec = preset_spec("relu-vs-dropout")
    shown = _table(spec)
    edits = {"edited_rows": {1: {"dropout": 0.3, "name": "ReLU + dropout 0.3"}}, "deleted_rows": [2],
             "added_rows": [{"name": "tanh", "activation": "tanh"}]}
    variants = apply_edits(shown, edits, spec.base)
    assert variants == {"ReLU": {"activation": "relu", "dropout": 0.0},
                        "ReLU + dropout 0.3": {"activation": "relu", "dropout": 0.3},
                        "linear": {"activation": "linear", "dropout": 0.0}, "tanh": {"activation": "tanh"}}
    with pytest.raises(ConfigError, match=r"^variant row 2 \(ReLU \+ dropout 0.5\): dropout: 2.0 is not allowed; allowed: a number from 0 to 0.95$"):
        apply_edits(shown, {"edited_rows": {1: {"dropout": 2.0}}}, spec.base)
    assert apply_edits(shown, {}, spec.base) == spec.variant_dict()  # no edits: the same variants


def test_the_table_says_when_it_differs_from_the_run_on_screen():
    from dashboard.views.variants import differs

    spec = preset_spec("relu-vs-dropout")
    now = pending(widget_values(spec))
    assert not differs(spec, now)
    assert differs(spec, list(reversed(now)))  # the order is part of the experiment
    assert differs(spec, [(n, {**ov, "dropout": 0.3}) for n, ov in now])
    assert not differs(Spec.make(validate(), {"dropout 0.1": {"dropout": 0.1}}), [("", {"dropout": 0.1})])
