"""`python -m core run|sweep ... | head`: a reader that closes standard output early costs the
table's tail, never the files asked for, and is not an error (exit 0, nothing on stderr but the
usual lines). The reading end is closed before the command starts writing: no timing involved."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-samples", "100", "--epochs", "2", "--seeds", "2", "--width", "8", "--quiet", "--no-store"]


def _closed_stdout(argv: list[str]) -> tuple[int, str]:
    p = subprocess.Popen([sys.executable, "-m", "core", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # before the child has imported torch, let alone printed its table
    err = p.stderr.read()
    return p.wait(timeout=120), err


@pytest.mark.parametrize("cmd,files", [
    (["run", *TINY], ["--json", "out.json", "--csv", "out.csv"]),
    (["sweep", *TINY, "--grid", "dropout=0,0.5"], ["--json", "out.json", "--csv", "out.csv"]),
])
def test_a_closed_pipe_keeps_the_files_and_is_not_an_error(tmp_path, cmd, files):
    argv = [*cmd, *[str(tmp_path / f) if f.startswith("out") else f for f in files]]
    code, err = _closed_stdout(argv)
    assert code == 0, err
    assert "error" not in err.lower() and "Traceback" not in err, err
    assert json.loads((tmp_path / "out.json").read_text())["variants"]
    assert len(pd.read_csv(tmp_path / "out.csv")) > 0


def test_runs_list_into_a_closed_pipe_is_not_an_error(tmp_path):
    store = tmp_path / "runs.db"
    code, err = _closed_stdout(["run", *TINY[:-1], "--store", str(store)])
    assert code == 0, err
    code, err = _closed_stdout(["runs", "list", "--store", str(store)])
    assert code == 0 and "error" not in err.lower() and "Traceback" not in err, err
