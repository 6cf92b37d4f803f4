"""The command line: flags from the schema, JSON/CSV export, one-line errors with exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.config import FIELDS
from core.results import LAYER_METRICS, SCALAR_METRICS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-samples", "100", "--epochs", "2", "--seeds", "2", "--width", "8", "--batch-size", "16", "--quiet"]


def test_run_writes_json_and_csv(tmp_path, capsys):
    js, cs = tmp_path / "out.json", tmp_path / "out.csv"
    assert main(["run", *TINY, "--dropout", "0.5", "--json", str(js), "--csv", str(cs)]) == 0
    table = capsys.readouterr().out
    assert "val acc" in table and "run" in table
    doc = json.loads(js.read_text())
    assert doc["status"] == "ok" and doc["config"]["dropout"] == 0.5 and doc["seconds"] > 0
    hist = doc["history"]
    assert len(hist) == 2 * 3  # seeds x (epochs + 1)
    assert {h["seed"] for h in hist} == {0, 1}
    for key in ("seed", "epoch", *SCALAR_METRICS, *LAYER_METRICS):
        assert key in hist[0]
    assert len(hist[0]["dead"]) == 2
    frame = pd.read_csv(cs)
    assert len(frame) == 2 * 3 * 2  # seeds x epochs x layers
    assert {"variant", "seed", "epoch", "layer", "mask_agreement"} <= set(frame.columns)


def test_every_field_is_a_flag():
    from core.cli import build_parser
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for f in FIELDS:
        assert f.flag in text
    flat = " ".join(text.split())
    # what a flag takes, as typed: the path is no number, a bool default reads as its value would
    assert "(dataset=csv only) [a file path; default none]" in flat and "a number >= ;" not in flat
    assert "[true or false; default false]" in flat


@pytest.mark.parametrize("argv,field", [
    (["--lr", "50"], "lr"), (["--activation", "swish"], "activation"), (["--depth", "two"], "depth"),
    (["--model", "cnn"], "model"), (["--batchnorm", "maybe"], "batchnorm"), (["--preset", "nope"], "preset"),
    (["--preset", "relu-vs-dropout", "--variant", "nope"], "variant"),
])
def test_bad_values_exit_2_with_one_line_naming_the_field(tmp_path, capsys, argv, field):
    out = tmp_path / "out.json"
    assert main(["run", *TINY, *argv, "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {field}:")
    assert not out.exists()  # nothing half-written


def test_unwritable_output_fails_before_training(tmp_path, capsys):
    assert main(["run", *TINY, "--json", str(tmp_path / "missing" / "out.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_presets_lists_all(capsys):
    from core.presets import PRESETS
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out


def test_python_dash_m_core_runs_a_preset_variant(tmp_path):
    out = tmp_path / "p.json"
    r = subprocess.run([sys.executable, "-m", "core", "run", "--no-store", "--preset", "relu-vs-dropout", "--epochs", "2",
                        "--variant", "ReLU + dropout 0.5", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert [v["name"] for v in doc["variants"]] == ["ReLU + dropout 0.5"]
    assert doc["preset"] == "relu-vs-dropout"
    assert "epoch" in r.stderr  # the progress bar goes to stderr, the table to stdout
    assert "val acc" in r.stdout


def test_core_never_imports_streamlit():
    code = "import sys, core, core.train, core.cli, core.presets, core.store; " \
           "sys.exit(1 if 'streamlit' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    for p in (ROOT / "core").glob("*.py"):
        assert "import streamlit" not in p.read_text(), p


@pytest.mark.parametrize("content", [None, "x,y,label\n1,2,a\n", "x,y,label\n" + "1,nan,0\n" * 30])
def test_an_unusable_data_file_is_one_line_not_a_traceback(tmp_path, capsys, content):
    path, out = tmp_path / "points.csv", tmp_path / "out.json"
    if content is not None:
        path.write_text(content)
    assert main(["run", *TINY, "--dataset", "csv", "--data-path", str(path), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data-path:") and "Traceback" not in err[0]
    assert not out.exists()


# --- the run store ------------------------------------------------------------------------

PRESET = ["--preset", "relu-vs-dropout", "--epochs", "3", "--quiet"]


def _preset_request(epochs: int = 3):
    """The experiment `run --preset relu-vs-dropout --epochs N` asks for, built independently."""
    from core.config import validate
    from core.presets import PRESETS

    p = PRESETS["relu-vs-dropout"]
    base = validate({**p.base, "epochs": epochs})
    return base, dict(p.variants), p


@pytest.fixture
def never_train(monkeypatch):
    """Any training from here on fails the test: what follows must be served from the store."""
    import core.train

    def boom(*a, **k):
        raise AssertionError("trained, but the experiment was stored")
    monkeypatch.setattr(core.train, "run_experiment", boom)


def test_a_run_is_kept_listed_and_then_served_by_the_cli_and_the_page(tmp_path, capsys, request):
    from core.runs_cli import main as runs_main
    from core.serve import Limits, run_guarded
    from core.store import RunStore, store_key

    db = tmp_path / "X.db"
    base, variants, p = _preset_request()
    key = store_key([base.replace(**ov) for ov in variants.values()])
    outs = [tmp_path / f"{i}.{ext}" for i in (1, 2) for ext in ("json", "csv")]
    assert main(["run", *PRESET, "--store", str(db), "--json", str(outs[0]), "--csv", str(outs[1])]) == 0
    first = capsys.readouterr()
    assert f"kept in the run store {db} (key {key[:12]})" in first.err

    assert runs_main(["list", "--store", str(db)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[1].startswith(key[:12]) and listed[1].endswith(p.title) and " ok " in listed[1]
    summary = RunStore(db).summary(key)
    assert (summary["title"], summary["preset"], summary["status"]) == (p.title, p.name, "ok")
    assert summary["variants"] == list(variants) and set(summary["val_acc"]) == set(variants)

    request.getfixturevalue("never_train")  # from here on, a training fails the test
    assert main(["run", *PRESET, "--store", str(db), "--json", str(outs[2]), "--csv", str(outs[3])]) == 0
    second = capsys.readouterr()
    served = [line for line in second.err.splitlines() if line.startswith("served from the run store")]
    assert len(served) == 1 and "--retrain" in served[0] and "--no-store" in served[0]
    assert second.out == first.out  # the same summary table...
    assert outs[2].read_bytes() == outs[0].read_bytes() and outs[3].read_bytes() == outs[1].read_bytes()  # ...files

    # The page's path finds it under the same key and serves it without training.
    exp, from_store, _ = run_guarded(base, variants, limits=Limits(), store=RunStore(db), title=p.title, preset=p.name)
    assert from_store is True
    assert json.loads(json.dumps(exp.export())) == json.loads(outs[0].read_text())


def test_retrain_trains_again_and_replaces_the_stored_run(tmp_path, capsys, count_trainings):
    from core.store import RunStore

    db = tmp_path / "X.db"
    assert main(["run", *TINY, "--store", str(db)]) == 0
    first = RunStore(db).list()
    assert main(["run", *TINY, "--store", str(db)]) == 0
    assert len(count_trainings) == 1 and "served from the run store" in capsys.readouterr().err
    assert main(["run", *TINY, "--store", str(db), "--retrain"]) == 0
    assert len(count_trainings) == 2 and "served" not in capsys.readouterr().err
    again = RunStore(db).list()
    assert len(again) == 1 and again[0]["key"] == first[0]["key"] and again[0]["created"] > first[0]["created"]


def test_the_default_store_and_no_store(tmp_path, monkeypatch, capsys, count_trainings):
    from core.store import RunStore

    default = tmp_path / "default" / "runs.db"
    monkeypatch.setenv("RELU_LAB_STORE", str(default))
    assert main(["run", *TINY, "--no-store"]) == 0
    assert not (tmp_path / "default").exists()  # neither created nor read
    assert main(["run", *TINY]) == 0  # $RELU_LAB_STORE: kept there
    assert len(RunStore(default).list()) == 1 and len(count_trainings) == 2
    capsys.readouterr()
    assert main(["run", *TINY, "--no-store"]) == 0  # stored, but not read: trained again
    assert len(count_trainings) == 3 and "served" not in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--store", "x.db"], ["--retrain"]])
def test_no_store_with_store_or_retrain_is_one_line(tmp_path, capsys, extra):
    assert main(["run", *TINY, "--no-store", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --no-store")


def test_an_unusable_store_is_one_line_before_training(tmp_path, capsys, never_train):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["run", *TINY, "--store", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: store {folder}:") and "Traceback" not in err


def test_a_stopped_run_is_reported_but_not_stored(tmp_path, capsys, monkeypatch):
    import core.train
    from core.store import RunStore

    real = core.train.run_experiment
    monkeypatch.setattr(core.train, "run_experiment",
                        lambda base, variants, **k: real(base, variants, **{**k, "should_stop": lambda: True}))
    db, out = tmp_path / "X.db", tmp_path / "out.json"
    assert main(["run", *TINY, "--store", str(db), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["status"] == "stopped"
    assert "not kept in the run store: the run was stopped" in capsys.readouterr().err
    assert RunStore(db).list() == []


def test_an_interrupted_run_writes_and_stores_nothing(tmp_path, capsys, monkeypatch):
    import core.train
    from core.store import RunStore

    real = core.train.run_experiment

    def interrupted(base, variants, on_epoch=None, **k):
        def ctrl_c(exp, vi, epoch):
            if epoch == 1:
                raise KeyboardInterrupt
            on_epoch(exp, vi, epoch)
        return real(base, variants, on_epoch=ctrl_c, **k)
    monkeypatch.setattr(core.train, "run_experiment", interrupted)
    db, out = tmp_path / "X.db", tmp_path / "out.json"
    assert main(["run", *TINY, "--store", str(db), "--json", str(out)]) == 130
    assert "interrupted: nothing written" in capsys.readouterr().err
    assert RunStore(db).list() == [] and not out.exists()


def test_a_stored_run_is_shown_as_asked_for(tmp_path, capsys):
    """Same settings asked for under another name, without the preset: the stored numbers, with
    this request's names, title and settings, as if it had been trained now."""
    from core.presets import PRESETS

    db, a, b = tmp_path / "X.db", tmp_path / "a.json", tmp_path / "b.json"
    name = "ReLU + dropout 0.5"
    assert main(["run", *PRESET, "--variant", name, "--store", str(db), "--json", str(a)]) == 0
    stored = json.loads(a.read_text())
    cfg = stored["variants"][0]["config"]
    flags = [x for f in FIELDS if f.name != "data_path" for x in (f.flag, str(cfg[f.name]))]
    assert main(["run", "--quiet", *flags, "--store", str(db), "--json", str(b)]) == 0
    assert "served from the run store" in capsys.readouterr().err
    plain = json.loads(b.read_text())
    assert (plain["title"], plain["preset"], [v["name"] for v in plain["variants"]]) == ("", "", ["run"])
    assert plain["config"] == cfg and stored["title"] == PRESETS["relu-vs-dropout"].title
    assert [{**h, "variant": name} for h in plain["history"]] == stored["history"]


def test_a_csv_run_is_served_whatever_the_file_is_called(tmp_path, capsys):
    from core.csvdata import example_csv

    db = tmp_path / "X.db"
    for n in ("one.csv", "two.csv"):
        (tmp_path / n).write_text(example_csv(n=60))
    outs = []
    for n in ("one.csv", "two.csv"):
        out = tmp_path / f"{n}.json"
        assert main(["run", *TINY, "--dataset", "csv", "--data-path", str(tmp_path / n), "--store", str(db),
                     "--json", str(out)]) == 0
        outs.append(json.loads(out.read_text()))
    assert "served from the run store" in capsys.readouterr().err
    # each export names its own file, by name only (exports never carry a folder: core.results.exported_config)
    assert [o["config"]["data_path"] for o in outs] == ["one.csv", "two.csv"]
    assert outs[0]["history"] == outs[1]["history"]


def test_what_a_training_prints_is_what_the_store_serves_later(tmp_path, monkeypatch, capsys):
    """The stored document rounds each variant's seconds to 1e-4: a fresh run reports from that
    document too, so a total that would round differently (4 x 0.00004 s) prints the same."""
    import core.train

    real = core.train.run_experiment

    def tiny_seconds(*a, **k):
        exp = real(*a, **k)
        for r in exp.runs:
            r.seconds = 0.00004
        return exp
    monkeypatch.setattr(core.train, "run_experiment", tiny_seconds)
    db, a, b = tmp_path / "X.db", tmp_path / "a.json", tmp_path / "b.json"
    assert main(["run", *PRESET, "--epochs", "1", "--store", str(db), "--json", str(a)]) == 0
    assert main(["run", *PRESET, "--epochs", "1", "--store", str(db), "--json", str(b)]) == 0
    assert "served from the run store" in capsys.readouterr().err
    assert json.loads(a.read_text())["seconds"] == 0.0 and a.read_bytes() == b.read_bytes()


# --- one error contract ---------------------------------------------------------------------------

def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("flag,value", [("--noise", "-0"), ("--noise", "-0.0"), ("--noise=-0", None)])
def test_minus_zero_noise_trains_and_is_the_same_experiment_as_zero(tmp_path, capsys, count_trainings, flag, value):
    """`--noise -0` used to pass validation and crash in numpy ("scale < 0")."""
    db, out = tmp_path / "X.db", tmp_path / "out.json"
    argv = [flag] if value is None else [flag, value]
    assert main(["run", *TINY, *argv, "--store", str(db), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["noise"] == 0.0
    assert main(["run", *TINY, "--noise", "0", "--store", str(db)]) == 0
    assert len(count_trainings) == 1 and "served from the run store" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value,field", [
    ("--epochs", "1_000", "epochs"), ("--epochs", "٣", "epochs"), ("--epochs", "１", "epochs"),
    ("--noise", " ", "noise"), ("--seeds", "0x10", "seeds"), ("--lr", "inf", "lr"), ("--lr", "nan", "lr"),
    ("--noise", "1e-400", "noise"), ("--noise", "1e400", "noise"), ("--width", "1.5", "width"),
])
def test_numbers_the_csv_loader_refuses_are_refused_here_too(capsys, never_train, flag, value, field):
    assert main(["run", *TINY, "--no-store", flag, value]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: {field}: {value!r} is not allowed (")


def test_a_huge_value_is_cut_in_the_one_line(capsys, never_train):
    assert main(["run", *TINY, "--no-store", "--lr", "9" * 30_000]) == 2
    line = _one_line(capsys)
    assert len(line) < 300 and "…" in line


def _fifo(tmp_path):
    import os

    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("opt,make,says", [
    ("--json", lambda t: t, "it is a folder"),  # `run --json /tmp`
    ("--csv", lambda t: t, "it is a folder"),
    ("--json", _fifo, "not a regular file"),  # replacing it would replace the pipe (or /dev/null, as root)
    ("--csv", lambda t: t / "missing" / "out.csv", "does not exist"),
])
def test_an_unusable_output_path_is_one_line_before_training(tmp_path, capsys, never_train, opt, make, says):
    target = make(tmp_path)
    assert main(["run", *TINY, "--no-store", opt, str(target)]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: cannot write {target}: ") and says in line


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_where_nothing_can_be_created_is_refused_before_training(capsys, never_train):
    # os.access says "writable" to root here; only creating a file tells the truth.
    assert main(["run", *TINY, "--no-store", "--csv", "/proc/x.csv"]) == 2
    assert "is not writable" in _one_line(capsys)


@pytest.mark.parametrize("make", [_fifo, lambda t: t])
def test_a_store_that_is_not_a_regular_file_is_refused_untouched(tmp_path, capsys, never_train, make):
    target = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", *TINY, "--store", str(target)]) == 2
    assert _one_line(capsys).startswith(f"error: store {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing moved aside or created
