"""Property: whatever value a settings flag gets, `python -m core run` either runs (exit 0) or
exits 2 with exactly one stderr line "error: <field>: ..." -- never a traceback.

One field is fuzzed at a time, on top of tiny settings (1 epoch, 60 points, width 4, one seed,
full batch), and a value that validates into a slow run is skipped, so the file stays fast.
"""
from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from core.cli import main
from core.config import FIELDS, ConfigError, Field, validate
from core.cost import examples

BASE = {"epochs": "1", "n_samples": "60", "width": "4", "seeds": "1", "batch_size": "0"}
# --no-store: every valid value trains (a stored one would be served instead, untested).
ARGV = ["run", "--quiet", "--no-store"] + [a for name, v in BASE.items() for a in ("--" + name.replace("_", "-"), v)]
# A cross-field rule may name the other field: dataset=csv needs data_path, digits caps n_samples.
RELATED = {"dataset": {"data_path", "n_samples"}, "model": {"model"}, "val_fraction": {"batch_size"},
           "n_samples": {"batch_size"}}
MAX_COST = 3e8  # multiply-adds of one tiny run, fixed costs included (about a tenth of a second)

WEIRD = ["", " ", "-", "--", "-1", "-0", "nan", "NaN", "inf", "-inf", "1e400", "1e-400", "0x10", "1_000", "1,5",
         "١٢", "１", "½", "Ⅻ", "\x00", "\n", "\t3", "3\n", "true", "None", "null", "[]", "{}", "0" * 50 + "1",
         "9" * 5000, "1" + "0" * 30, "1e30", "-1e30", "e", ".", "1.", ".5", "+5", "٣.٥", "𝟙", "ß", "🙂",
         "' OR 1=1 --", "../../etc/passwd", "%s%n", "a" * 300]


def _values(f: Field) -> st.SearchStrategy[str]:
    out = st.one_of(st.sampled_from(WEIRD), st.text(max_size=12),
                    st.integers(-10**40, 10**40).map(str), st.floats().map(repr))
    if f.choices:
        out |= st.sampled_from(f.choices) | st.sampled_from([f" {c.upper()} " for c in f.choices])
    if f.type is bool:
        out |= st.sampled_from(["true", "False", "1", "0", "yes", "off", "2"])
    if f.type in (int, float) and f.lo is not None:
        lo = int(f.lo)
        small = (st.integers(lo, lo + 8) if f.type is int else st.floats(f.lo, f.lo + 1)).map(str)
        hi = int(f.hi) if f.hi is not None else 10**6
        out |= small | st.integers(lo - 3, hi + 3).map(str)
    return out


@st.composite
def flag_and_value(draw):
    f = draw(st.sampled_from(FIELDS))
    return f, draw(_values(f)), draw(st.booleans())


def _cost(cfg) -> float:
    """Multiply-adds of the run: steps, per-epoch measuring and the final decision-boundary grid."""
    w, d = cfg.width, cfg.depth
    per_input = (64 if cfg.dataset == "digits" else 2) * w + w * w * (d - 1) + 10 * w
    if cfg.model == "cnn":
        per_input = 64 * 9 * w * (1 + w * (d - 1)) + 160 * w
    return cfg.seeds * per_input * (6400 + 4 * examples(cfg) * (cfg.epochs + 1))  # n_samples 0 = all


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(flag_and_value())
def test_any_flag_value_runs_or_is_one_line_naming_the_field(case):
    f, value, use_equals = case
    try:
        cfg = validate({**BASE, f.name: value})
    except ConfigError:
        cfg = None  # main must say so in one line
    if cfg is not None:  # it will train: keep it tiny
        assume(cfg.epochs <= 1 and _cost(cfg) <= MAX_COST)
    # Both spellings: '--flag=value' and '--flag value' (a value starting with '-' included).
    flag = "--" + f.name.replace("_", "-")
    extra = [f"{flag}={value}"] if use_equals else [flag, value]
    rc, out, err = _run(ARGV + extra)
    event(f"exit {rc}")
    assert "Traceback" not in err
    if rc == 0:
        assert cfg is not None and "val acc" in out
        return
    assert rc == 2, (rc, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    named = lines[0].split(":", 2)[1].strip() if lines[0].count(":") >= 2 else ""
    assert lines[0].startswith("error: ") and named in {f.name} | RELATED.get(f.name, set()), lines[0]
    assert cfg is None or f.name in RELATED  # a value that validates only fails on a cross-field rule


@pytest.mark.parametrize("argv,field", [
    (["--lr", "1e400"], "lr"), (["--epochs", "9" * 5000], "epochs"), (["--dropout", "nan"], "dropout"),
    (["--activation", "ReLU\n--evil"], "activation"), (["--n-samples", ""], "n_samples"),
    (["--batchnorm", "\x00"], "batchnorm"), (["--seed=-1"], "seed"), (["--dataset", "csv"], "data_path"),
])
def test_hand_picked_values_are_one_line_errors(argv, field):
    rc, _, err = _run(ARGV + argv)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith(f"error: {field}: ")


def test_huge_seed_is_a_one_line_error():
    rc, _, err = _run(ARGV + ["--seed", str(10**20)])
    assert rc == 2 and err.startswith("error: seed: ")


def test_dash_value_after_a_space_is_one_line_naming_the_field():
    rc, _, err = _run(ARGV + ["--lr", "-1e-3"])
    assert rc == 2 and err.startswith("error: lr: ")
