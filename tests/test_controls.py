"""Links and widgets -> settings (dashboard/controls.py), for hostile input: strict numbers, checked
variant names, values cut in warnings, long links counted. (The page itself: test_dashboard_app.py.)"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError, validate, variant_name
from core.presets import PRESETS
from dashboard import controls
from dashboard.controls import (
    MAX_LINK_PARAMS,
    Spec,
    auto_name,
    spec_from_query,
    spec_from_widgets,
    spec_to_query,
    widget_values,
)

CLICK = '<a href="https://evil.example/x">CLICK ME</a>'
SPAN = '<span style="font-size:90px">'


def _names(spec: Spec) -> list[str]:
    return [name for name, _ in spec.variants]


def test_the_link_of_the_issue_gets_no_markup_into_a_name():
    spec, warnings = spec_from_query({"preset": "none", "vA": f"{CLICK}|lr:0.01", "vB": f"{SPAN}big|dropout:0.5"})
    assert _names(spec) == ["lr 0.01", "dropout 0.5"]  # named from their settings instead
    assert dict(spec.variants[0][1]) == {"lr": 0.01}
    assert len(warnings) == 2
    assert warnings[0].startswith("vA: variant name: ") and "it contains '<'" in warnings[0]
    assert "named from its settings instead" in warnings[0]
    for name in _names(spec):
        assert variant_name(name) == name


def test_a_bad_name_without_overrides_keeps_the_variant():
    spec, warnings = spec_from_query({"preset": "none", "vA": f"{CLICK}|", "vB": "plain|"})
    assert _names(spec) == ["base", "plain"] and len(warnings) == 1


@pytest.mark.parametrize("raw", ["1_000", "٣", "１", " ", "0x10", "inf", "nan", "1e-400", "1e400"])
def test_the_attack_numbers_in_a_link_warn_and_keep_the_default(raw):
    spec, warnings = spec_from_query({"preset": "none", "epochs": raw, "noise": raw, "vA": f"x|lr:{raw}"})
    assert (spec.base.epochs, spec.base.noise) == (validate().epochs, validate().noise)
    assert dict(spec.variants)["x"] == ()
    assert [w.split(":")[0] for w in warnings] == ["epochs", "noise", "vA"]


def test_minus_zero_in_a_link_is_zero():
    a, wa = spec_from_query({"preset": "none", "noise": "-0", "dropout": "-0.0"})
    b, wb = spec_from_query({"preset": "none", "noise": "0", "dropout": "0"})
    assert not wa and not wb and a == b and a.key() == b.key() and str(a.base.noise) == "0.0"


def test_huge_values_are_cut_in_every_warning():
    big = "9" * 30_000
    _, warnings = spec_from_query({"lr": big, "vA": f"{big}|lr:{big}", big: "1", "preset": big, "data": big})
    assert len(warnings) >= 5
    assert all(len(w) < 400 for w in warnings), [len(w) for w in warnings]


def test_a_link_with_too_many_parameters_says_how_many_were_ignored():
    q = {f"junk{i}": "1" for i in range(1500)}
    q["lr"] = "0.003"  # the 1501st: past the limit, not read
    spec, warnings = spec_from_query(q)
    assert warnings[0].startswith(f"this link has 1501 parameters; only the first {MAX_LINK_PARAMS} are read, "
                                  f"so {1501 - MAX_LINK_PARAMS} were ignored")
    assert spec.base.lr == validate(PRESETS[controls.DEFAULT_PRESET].base).lr
    assert len(warnings) == 2 and "'junk0', 'junk1', 'junk2' and 97 more: unknown parameters" in warnings[1]


def test_a_link_within_the_limit_reads_everything():
    q = {f"junk{i}": "1" for i in range(MAX_LINK_PARAMS - 1)} | {"lr": "0.003"}
    spec, warnings = spec_from_query(q)
    assert spec.base.lr == 0.003 and len(warnings) == 1 and "and 96 more" in warnings[0]


def test_widgets_refuse_a_bad_name_naming_slot_and_field():
    values = widget_values(controls.default_spec())
    values[controls.vkey("B", "name")] = f"{CLICK}"
    with pytest.raises(ConfigError) as e:
        spec_from_widgets(values, controls.DEFAULT_PRESET)
    assert e.value.field == "variant B: variant name" and "it contains '<'" in str(e.value)


_override = st.sampled_from([("activation", "leaky_relu"), ("dropout", 0.123456789), ("weight_decay", 1e-5),
                             ("batchnorm", True), ("init", "he"), ("lr", 0.00012345), ("optimizer", "momentum"),
                             ("depth", 12), ("width", 1024), ("batch_size", 0)])


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.lists(_override, max_size=10, unique_by=lambda kv: kv[0]))
def test_made_up_names_are_valid_names_and_survive_a_link(pairs):
    ov = dict(pairs)
    name = auto_name(ov)
    assert variant_name(name) == name
    taken: dict = {name: {}}
    for _ in range(12):  # name (2) ... name (13): still valid, still distinct
        nxt = controls._unique(name, taken)
        assert variant_name(nxt) == nxt and nxt not in taken
        taken[nxt] = {}
    base = validate(PRESETS["dying-relu"].base)
    base.replace(**ov)  # the overrides themselves are valid: only the name is under test
    spec = Spec.make(base, {name: ov}, "dying-relu")
    back, warnings = spec_from_query(spec_to_query(spec))
    assert not warnings and _names(back) == [name]


def test_a_base_value_every_variant_overrides_is_still_the_preset():
    """relu-vs-dropout's variants all set dropout: a link's dropout=0.3 is warned about as not used,
    trains the very networks of the preset, and so is not titled "(changed)"; lr is used, and is."""
    title = PRESETS["relu-vs-dropout"].title
    unused, warnings = controls.spec_from_query({"dropout": "0.3"})
    assert unused.base.dropout == 0.3 and len(warnings) == 1
    assert unused.configs() == controls.default_spec().configs()  # the same networks...
    assert unused.matches_preset() and unused.title == title      # ...so the same experiment
    used, _ = controls.spec_from_query({"lr": "0.003"})
    assert not used.matches_preset() and used.title == f"{title} (changed)"
    fewer = controls.Spec.make(unused.base, {"ReLU": {"activation": "relu", "dropout": 0.0}}, "relu-vs-dropout")
    assert not fewer.matches_preset()  # other variants: another experiment
