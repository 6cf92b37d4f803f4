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
    r = subprocess.run([sys.executable, "-m", "core", "run", "--preset", "relu-vs-dropout", "--epochs", "2",
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
