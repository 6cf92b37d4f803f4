"""The settings schema: defaults, ranges, parsing, cross-field rules, one-line errors."""
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import DEFAULTS, FIELD, FIELDS, Config, ConfigError, validate

CONTRACT = ["dataset", "n_samples", "noise", "label_noise", "val_fraction", "scaling", "model", "depth", "width",
            "activation", "init", "dropout", "weight_decay", "batchnorm", "optimizer", "lr", "batch_size",
            "epochs", "seeds", "seed"]


def test_public_field_names_and_defaults():
    names = [f.name for f in FIELDS]
    for n in CONTRACT:
        assert n in names
    d = DEFAULTS
    assert (d.dataset, d.n_samples, d.noise, d.label_noise, d.val_fraction) == ("moons", 0, 0.3, 0.0, 0.3)
    assert d.scaling == "feature"
    assert (d.model, d.depth, d.width, d.activation, d.init) == ("mlp", 2, 64, "relu", "default")
    assert (d.dropout, d.weight_decay, d.batchnorm, d.optimizer, d.lr) == (0.0, 0.0, False, "adam", 0.01)
    assert (d.batch_size, d.epochs, d.seeds, d.seed) == (64, 200, 3, 0)


def test_choices_match_the_issue():
    assert FIELD["dataset"].choices[:6] == ("moons", "circles", "spirals", "xor", "gaussians", "digits")
    assert set(FIELD["activation"].choices) == {"relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid",
                                                "linear"}
    assert set(FIELD["optimizer"].choices) == {"sgd", "momentum", "adam"}
    assert set(FIELD["init"].choices) == {"default", "he", "xavier"}
    assert FIELD["scaling"].choices == ("feature", "global", "none") and FIELD["scaling"].group == "data"


@pytest.mark.parametrize("name,raw,value", [
    ("lr", "0.1", 0.1), ("lr", "1e-3", 1e-3), ("depth", "3", 3), ("depth", "3.0", 3),
    ("batchnorm", "true", True), ("batchnorm", "0", False), ("batchnorm", True, True),
    ("activation", "tanh", "tanh"), ("seeds", 64, 64), ("epochs", 0, 0),
])
def test_parse_accepts(name, raw, value):
    assert FIELD[name].parse(raw) == value


@pytest.mark.parametrize("name,raw", [
    ("lr", "abc"), ("lr", 0), ("lr", 11), ("lr", "nan"), ("lr", "inf"), ("depth", 0), ("depth", 21),
    ("depth", "2.5"), ("width", 1025), ("dropout", 0.96), ("activation", "swish"), ("batchnorm", "maybe"),
    ("seeds", 65), ("seed", -1), ("n_samples", 49), ("n_samples", 1), ("n_samples", -1), ("n_samples", 20001),
    ("lr", True), ("epochs", 5001), ("batch_size", -1), ("scaling", "minmax"),
])
def test_parse_rejects_with_field_value_and_allowed(name, raw):
    with pytest.raises(ConfigError) as e:
        FIELD[name].parse(raw)
    msg = str(e.value)
    assert msg.startswith(f"{name}:") and repr(raw) in msg and "allowed" in msg
    assert "\n" not in msg


def test_n_samples_zero_means_all_and_its_allowed_text_says_so():
    f = FIELD["n_samples"]
    assert f.parse(0) == 0 and f.parse("50") == 50 and f.parse(20000) == 20000
    assert f.allowed() == "0 (all of the data set) or an integer from 50 to 20000"
    with pytest.raises(ConfigError, match=r"^n_samples: 12 is not allowed; allowed: 0 \(all of the data set\) or "
                                          r"an integer from 50 to 20000$"):
        f.parse(12)
    assert "0 = all of the data set" in f.help and "1797 digits" in f.help


def test_unknown_field_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match="lrate"):
        validate({"lrate": 0.1})


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="^model:.*digits"):
        validate(model="cnn")
    assert validate(model="cnn", dataset="digits", n_samples=500).model == "cnn"
    with pytest.raises(ConfigError, match=r"^n_samples: 1800 .*allowed: 0 \(all 1797\) or 50 to 1797 with dataset=digits"):
        validate(dataset="digits", n_samples=1800)
    assert validate(dataset="digits", n_samples=1797).n_samples == 1797
    with pytest.raises(ConfigError, match="^batch_size:"):
        validate(n_samples=100, val_fraction=0.5, batch_size=60)
    # The batch-size rule counts the examples the run uses: all 1797 digits by default, so
    # 1797 - round(0.3 * 1797) = 1258 training images; 1000 generated moons leave 700.
    assert validate(dataset="digits", batch_size=1258).batch_size == 1258
    with pytest.raises(ConfigError, match="^batch_size: 1259 .*1 to 1258"):
        validate(dataset="digits", batch_size=1259)
    with pytest.raises(ConfigError, match="^batch_size: 701 .*1 to 700"):
        validate(batch_size=701)
    # Batch norm needs two examples in every batch: batch_size 1 is refused, not trained on.
    with pytest.raises(ConfigError, match=r"^batch_size: 1 is not allowed; allowed: 0 \(full batch\) or at least 2 "
                                          "with batchnorm=true"):
        validate(batchnorm=True, batch_size=1)
    assert validate(batchnorm=True, batch_size=2).batch_size == 2 and validate(batch_size=1).batch_size == 1
    with pytest.raises(ConfigError, match="^data_path:"):
        validate(dataset="csv")


def test_replace_revalidates_and_key_is_canonical():
    c = validate(lr=0.1)
    assert c.replace(lr=0.2).lr == 0.2
    with pytest.raises(ConfigError):
        c.replace(lr=100)
    assert validate(lr=0.1).key() == c.key() and c.replace(lr=0.2).key() != c.key()
    assert c.seed_list == [0, 1, 2]


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().lr = 1  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["bogus"]),
                       st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_subnormal=False),
                                 st.booleans(), st.none()), max_size=6))
def test_any_input_validates_or_names_the_field(values):
    try:
        cfg = validate(values)
    except ConfigError as e:
        assert e.field in FIELD or e.field in values
        assert str(e).startswith(f"{e.field}:")
    else:
        for f in FIELDS:
            v = getattr(cfg, f.name)
            if f.lo is not None:
                assert v >= f.lo
            if f.hi is not None:
                assert v <= f.hi
            if f.choices:
                assert v in f.choices


# --- one error contract: strict numbers, canonical zero, cut values -------------------------------

@pytest.mark.parametrize("raw", ["1_000", "٣", "１", " ", "0x10", "inf", "nan", "1e-400", "1e400"])
@pytest.mark.parametrize("name", ["noise", "epochs"])
def test_the_attack_numbers_are_refused_naming_the_field(name, raw):
    with pytest.raises(ConfigError) as e:
        validate({name: raw})
    msg = str(e.value)
    assert e.value.field == name and msg.startswith(f"{name}: {raw!r} is not allowed (") and "allowed:" in msg


@pytest.mark.parametrize("zero", ["-0", "-0.0", -0.0, "-0e3", "0.0", 0, "0"])
def test_minus_zero_is_the_same_settings_and_the_same_keys_as_zero(zero):
    from core.store import experiment_key

    plus = validate(noise=0.0, dropout=0.0, weight_decay=0.0)
    cfg = validate(noise=zero, dropout=zero, weight_decay=zero)
    assert cfg == plus and cfg.to_dict() == plus.to_dict()
    assert str(cfg.noise) == "0.0"  # not "-0.0": numpy's normal(scale=-0.0) refuses it ("scale < 0")
    assert cfg.key() == plus.key() and experiment_key([cfg], "v") == experiment_key([plus], "v")


def test_numbers_from_json_are_checked_like_text():
    with pytest.raises(ConfigError, match="too large"):
        validate(noise=10**400)  # float() of it raises OverflowError, not a ConfigError, unless caught
    assert validate(epochs=3.0).epochs == 3 and validate(seed=2**31 - 1).seed == 2**31 - 1


def test_a_huge_value_is_cut_in_the_message():
    e = ConfigError("lr", "9" * 30_000, "a number")
    assert len(str(e)) < 200 and "…" in str(e) and e.value == "9" * 30_000  # the whole value is kept
    with pytest.raises(ConfigError) as e:
        validate(activation="<b>" * 10_000)
    assert len(str(e.value)) < 400


# --- variant names ----------------------------------------------------------------------------------

def test_every_preset_variant_name_is_a_valid_name():
    from core.config import variant_name
    from core.presets import PRESETS

    for p in PRESETS.values():
        for name in p.variants:
            assert variant_name(name) == name


@pytest.mark.parametrize("raw,why", [
    ('<a href="https://evil.example/x">CLICK ME</a>', "it contains '<'"),
    ('<span style="font-size:90px">', "it contains '<'"),
    ("=HYPERLINK(1)", "it contains '='"), ("-1+1", "it starts with '-'"), ("+x", "it starts with '+'"),
    ("a\x1b[2Jb", "it contains '\\x1b'"), ("a|b", "it contains '|'"), ("Ü", "it contains 'Ü'"),
    ("x" * 41, "it has 41 characters"), ("", ""), ("   ", ""),
])
def test_a_bad_variant_name_is_a_config_error_naming_the_field(raw, why):
    from core.config import variant_name

    with pytest.raises(ConfigError) as e:
        variant_name(raw)
    msg = str(e.value)
    assert e.value.field == "variant name" and msg.startswith("variant name: ") and why in msg
    assert "letters" in msg and "40 characters" in msg


@pytest.mark.parametrize("name", ["ReLU", "ReLU + dropout 0.5", "lr 0.01, batchnorm on", "x,y:z", "a/b",
                                  "dropout 50%", "tanh (2)", "3 layers", "x" * 40, "  padded  "])
def test_good_variant_names_pass(name):
    from core.config import variant_name

    assert variant_name(name) == name.strip()
