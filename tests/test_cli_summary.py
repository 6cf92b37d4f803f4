"""What the command line prints and writes: the summary table (its columns worked out by hand from
set figures), and user text made inert for terminals (control characters) and spreadsheets
(formulas in CSV cells)."""
import argparse

import pandas as pd


def test_summary_table_and_messages_escape_control_characters(tiny_experiment, capsys):
    import copy

    from core.cli import _report, summary_table

    exp = copy.deepcopy(tiny_experiment)
    exp.runs[0].name = "a\x1b[2J\x9b31mb\nc"
    exp.runs[0].messages = ["note \x1b]0;title\x07"]
    table = summary_table(exp)
    assert "\x1b" not in table and "\x9b" not in table and "a\\x1b[2J\\x9b31mb\\x0ac" in table
    assert len(table.splitlines()) == 2 + len(exp.runs)  # a newline in a name does not add a row
    _report(exp, argparse.Namespace(json=None, csv=None))
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\\x1b]0;title\\x07" in out.err


def test_csv_export_makes_formula_names_inert_and_keeps_numbers(tiny_experiment, tmp_path):
    import copy

    exp = copy.deepcopy(tiny_experiment)
    exp.runs[0].name = '=HYPERLINK("https://evil.example/x","CLICK ME")'
    from core.cli import _report

    out = tmp_path / "h.csv"
    _report(exp, argparse.Namespace(json=None, csv=str(out)))
    back = pd.read_csv(out)
    plain = exp.to_frame()
    assert set(back["variant"]) == {"'" + exp.runs[0].name, exp.runs[1].name}
    numeric = [c for c in plain.columns if c != "variant"]
    assert back[numeric].equals(plain[numeric].astype(back[numeric].dtypes.to_dict()))  # numbers as they were
    assert (plain["gap_acc"] < 0).any() or (plain["gap_loss"] < 0).any()  # negatives present, not prefixed


def _hand_run(activation="relu"):
    """2 seeds, 2 hidden layers, epochs 0..2, with figures set by hand."""
    import numpy as np

    from core.config import validate
    from core.results import Experiment, RunResult

    cfg = validate(epochs=2, seeds=2, depth=2, activation=activation)
    r = RunResult.empty(cfg, "hand", 2)
    for m in r.metrics:
        r.metrics[m][:] = 0.5
    r.metrics["dead"][:, 2] = [[1, 2], [3, 4]]                            # last epoch, all layers: 3 and 7
    r.metrics["revived"][:] = [[[np.nan] * 2, [1, 0], [0, 2]], [[np.nan] * 2, [0, 0], [0, 0]]]  # 3 and 0
    r.metrics["zero_frac"][:, 2] = [[0.2, 0.4], [0.4, 0.6]]               # mean of layers: 0.3 and 0.5
    r.metrics["mask_agreement"][:, 2] = [[1.0, 0.0], [0.5, 0.0]]          # layer 1: 1.0 and 0.5
    r.metrics["mask_flip"][:, 2] = [[0.1, 0.9], [0.3, 0.9]]               # layer 1: 0.1 and 0.3
    r.epochs_done, r.status = 3, "ok"
    return Experiment(cfg, [r])


def _cells(table: str) -> dict[str, str]:
    """The summary table's first row, by column header (headers contain single spaces only)."""
    import re

    head, _, row = table.splitlines()[:3]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", head)]
    cut = [(a, b) for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return {head[a:b].strip(): row[a:b].strip() for a, b in cut}


def test_the_summary_says_which_layers_each_column_is():
    from core.cli import summary_table

    cells = _cells(summary_table(_hand_run()))
    assert cells["dead (all layers)"] == "5.000±2.000"
    assert cells["revived (all layers+epochs)"] == "1.500±1.500"
    assert cells["zero frac (mean of layers)"] == "0.400±0.100"
    assert cells["mask agree L1"] == "0.750±0.250"   # the first hidden layer, as on the page
    assert cells["mask flip L1"] == "0.200±0.100"


def test_the_summary_says_mask_figures_do_not_apply_to_sigmoid_and_why():
    from core.cli import summary_table

    table = summary_table(_hand_run("sigmoid"))
    cells = _cells(table)
    assert cells["mask agree L1"] == cells["mask flip L1"] == "n/a"
    assert table.splitlines()[-1] == "n/a = not applicable: sigmoid is never off (every output is > 0)"
    assert "n/a" not in summary_table(_hand_run("tanh"))


def test_a_run_stored_without_revived_shows_a_dash():
    import numpy as np

    from core.cli import summary_table

    exp = _hand_run()
    exp.runs[0].metrics["revived"][:] = np.nan
    assert _cells(summary_table(exp))["revived (all layers+epochs)"] == "-"
