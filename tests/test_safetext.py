"""User text on its way out (core/safetext.py): cut in messages, inert in a terminal and a spreadsheet."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from core.safetext import SHOWN_CHARS, csv_cell, csv_safe, cut, shown, terminal


def test_cut_and_shown_bound_a_huge_value():
    big = "A" * 30_000
    assert cut(big) == "A" * SHOWN_CHARS + "…" and cut("short") == "short"
    assert shown(big) == repr("A" * SHOWN_CHARS + "…")
    assert shown("a\x1b[2Jb") == "'a\\x1b[2Jb'"  # quoted: control characters show as escapes
    assert len(shown(list(range(10_000)))) == SHOWN_CHARS + 1  # non-text values: their repr, cut


@pytest.mark.parametrize("raw,seen", [
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # ESC: clear screen, colours
    ("a\x9b31mb", "a\\x9b31mb"),  # C1 CSI, which some terminals obey without ESC
    ("one\ntwo\rthree\tfour", "one\\x0atwo\\x0dthree\\x09four"),  # one line, whatever it holds
    ("x\x07\x00\x7f", "x\\x07\\x00\\x7f"),  # bell, NUL, DEL
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
    ("± × … é ReLU + dropout 0.5", "± × … é ReLU + dropout 0.5"),  # ordinary text stays
])
def test_terminal_escapes_what_a_terminal_would_act_on(raw, seen):
    out = terminal(raw)
    assert out == seen and out.isprintable()


@pytest.mark.parametrize("cell", ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_formula_like_text_gets_an_apostrophe(cell):
    assert csv_cell(cell) == "'" + cell


@pytest.mark.parametrize("value", ["ReLU", "dropout 0.5", "", "a=b", "lr 0.01, batchnorm on", -1.5, -3, 0.0, None])
def test_other_cells_and_numbers_are_unchanged(value):
    assert csv_cell(value) == value


def test_csv_safe_touches_text_columns_only():
    frame = pd.DataFrame({"variant": ["=HYPERLINK(1)", "ReLU"], "gap": [-0.25, 0.5], "epoch": [-1, 2]})
    text = csv_safe(frame).to_csv(index=False)
    back = pd.read_csv(io.StringIO(text))
    assert list(back["variant"]) == ["'=HYPERLINK(1)", "ReLU"]
    assert list(back["gap"]) == [-0.25, 0.5] and list(back["epoch"]) == [-1, 2]  # negative numbers: no apostrophe
    assert list(frame["variant"]) == ["=HYPERLINK(1)", "ReLU"]  # a copy: the caller's frame is untouched
