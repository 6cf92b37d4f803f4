"""core.groups: which variants train together as slices of one network, and their stable keys."""
import dataclasses

import pytest

import core
from core import groups
from core.config import FIELD, validate
from core.cost import memory_bytes
from core.csvdata import example_csv
from core.groups import SHAPE_FIELDS, SLICE_FIELDS, Group, group_configs, group_variants, shape_key

BASE = validate(n_samples=300, epochs=5, width=16, seeds=2)


def test_every_setting_is_either_shared_by_a_group_or_a_slices_own():
    assert not set(SHAPE_FIELDS) & set(SLICE_FIELDS)
    assert set(SHAPE_FIELDS) | set(SLICE_FIELDS) == set(FIELD)


# A second value for each setting that the base can take (the base is moons, MLP, no batch norm).
OTHER = {"dataset": "circles", "n_samples": 400, "noise": 0.1, "label_noise": 0.2, "val_fraction": 0.5,
         "scaling": "none", "model": None, "depth": 3, "width": 8, "batchnorm": True, "batch_size": 16,
         "epochs": 7, "activation": "tanh", "init": "he", "dropout": 0.5, "weight_decay": 0.01,
         "optimizer": "sgd", "lr": 0.1, "seeds": 3, "seed": 4, "data_path": None}


@pytest.mark.parametrize("name", [f for f in SHAPE_FIELDS if OTHER[f] is not None])
def test_a_setting_that_changes_shapes_or_data_makes_another_group(name):
    gs = group_variants(BASE, {"a": {}, "b": {name: OTHER[name]}})
    assert [g.indices for g in gs] == [(0,), (1,)]


@pytest.mark.parametrize("name", SLICE_FIELDS)
def test_a_setting_of_the_slices_own_keeps_one_group(name):
    (g,) = group_variants(BASE, {"a": {}, "b": {name: OTHER[name]}})
    assert sorted(g.indices) == [0, 1]
    assert g.slices == BASE.seeds + (OTHER[name] if name == "seeds" else BASE.seeds)


def test_the_model_and_a_csv_file_split_groups_too(tmp_path):
    digits = validate(dataset="digits", n_samples=200, width=4, epochs=1)
    assert len(group_variants(digits, {"mlp": {}, "cnn": {"model": "cnn"}})) == 2
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(example_csv(60))
    b.write_text(example_csv(80))
    csv = validate(dataset="csv", data_path=str(a), epochs=1)
    assert len(group_variants(csv, {"a": {}, "b": {"data_path": str(b)}})) == 2


def test_n_samples_counts_as_the_examples_it_means():
    # 0 = all 1000 points of a generated set: the same data, so one group.
    base = BASE.replace(n_samples=0)
    (g,) = group_variants(base, {"all": {}, "1000": {"n_samples": 1000}, "relu": {"activation": "tanh"}})
    assert len(g.configs) == 3


def test_with_batch_norm_dropout_on_or_off_and_the_activation_split_groups():
    bn = BASE.replace(batchnorm=True)
    assert len(group_variants(bn, {"a": {"dropout": 0.2}, "b": {"dropout": 0.5}, "c": {"lr": 0.1, "dropout": 0.3}})) == 1
    assert len(group_variants(bn, {"a": {}, "b": {"dropout": 0.5}})) == 2
    assert len(group_variants(bn, {"a": {}, "b": {"activation": "tanh"}})) == 2
    # without batch norm neither does
    assert len(group_variants(BASE, {"a": {}, "b": {"dropout": 0.5, "activation": "tanh"}})) == 1


def test_groups_come_in_order_of_their_first_variant_and_slices_in_a_canonical_order():
    variants = {"w8": {"width": 8}, "tanh": {"activation": "tanh"}, "w8 relu": {"width": 8, "lr": 0.1},
                "relu": {}}
    gs = group_variants(BASE, variants)
    assert [sorted(g.indices) for g in gs] == [[0, 2], [1, 3]]
    # inside a group: equal activations next to each other, whatever the variants' order
    assert [c.activation for c in gs[1].configs] == ["relu", "tanh"]
    assert gs[1].indices == (3, 1)
    assert gs[1].ranges == ((0, 2), (2, 4))


def test_a_groups_key_depends_on_its_settings_and_the_engine_not_on_names_or_order(monkeypatch):
    one = group_variants(BASE, {"a": {}, "b": {"dropout": 0.5}})[0]
    other = group_variants(BASE, {"x": {"dropout": 0.5}, "y": {}})[0]
    assert one.key == other.key and len(one.key) == 32
    assert one.key != group_variants(BASE, {"a": {}, "b": {"dropout": 0.4}})[0].key
    assert one.key != group_variants(BASE.replace(seed=1), {"a": {}, "b": {"dropout": 0.5}})[0].key
    # not the key of the experiment of the same settings: a group is not a stored run
    from core.store import store_key
    assert one.key != store_key(list(one.configs))
    key = one.key
    monkeypatch.setattr(core, "__version__", "9.9.9")
    assert one.key != key


def test_a_csv_group_is_keyed_by_the_files_content_not_its_path(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(example_csv(60))
    b.write_text(example_csv(60))
    key = [group_variants(validate(dataset="csv", data_path=str(p), epochs=1), {"x": {}, "y": {"lr": 0.1}})[0].key
           for p in (a, b)]
    assert key[0] == key[1]


def test_sequential_puts_every_variant_alone_in_order():
    gs = group_variants(BASE, {"a": {}, "b": {"dropout": 0.5}, "c": {"lr": 0.1}}, sequential=True)
    assert [g.indices for g in gs] == [(0,), (1,), (2,)]


def test_a_group_stays_under_its_memory_cap_unless_one_variant_is_larger():
    configs = [BASE.replace(seed=s) for s in range(5)]
    one = memory_bytes(configs[0])[0]
    gs = group_configs(configs, max_bytes=2.5 * one)
    assert [g.indices for g in gs] == [(0, 1), (2, 3), (4,)]
    assert [g.indices for g in group_configs(configs, max_bytes=0.5 * one)] == [(i,) for i in range(5)]
    assert len(group_configs(configs)) == 1  # the default cap holds small runs together


def test_ranges_give_each_config_its_seeds_in_order():
    g = Group((BASE, BASE.replace(seeds=3), BASE.replace(seeds=1)), (0, 1, 2))
    assert g.ranges == ((0, 2), (2, 5), (5, 6)) and g.slices == 6


def test_shape_key_ignores_slice_settings():
    changed = dataclasses.replace(BASE, **{f: OTHER[f] for f in SLICE_FIELDS})
    assert shape_key(changed) == shape_key(BASE)
    assert groups.MAX_GROUP_BYTES > 0
