"""The one number parser (core/numbers.py), and that the schema and the CSV loader both use it:
a string is read the same way as a CLI flag, a URL value and a CSV cell, or refused by all."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError, Field
from core.csvdata import DataError, load_points
from core.numbers import INT_LIMIT, NumberError, numberish, parse_number


@pytest.mark.parametrize("text,kind", [
    ("1_000", "spelling"), ("٣", "spelling"), ("１", "spelling"), ("٣.٥", "spelling"), ("𝟙", "spelling"),
    ("0x10", "spelling"), ("1,5", "spelling"), ("½", "spelling"), ("e", "spelling"), (".", "spelling"),
    ("1e", "spelling"), ("--1", "spelling"), ("1 000", "spelling"), ("\u00a01\u00a0x", "spelling"),
    ("", "empty"), (" ", "empty"), ("\t\n ", "empty"),
    ("inf", "not finite"), ("-Infinity", "not finite"), ("nan", "not finite"), ("NaN", "not finite"),
    ("1e400", "too large"), ("-1e999", "too large"), ("9" * 400, "too large"),
    ("1e-400", "too small"), ("-0.0001e-320", "too small"),
])
def test_the_attack_spellings_are_refused_with_a_reason(text, kind):
    with pytest.raises(NumberError) as e:
        parse_number(text, float)
    assert e.value.kind == kind and e.value.reason


@pytest.mark.parametrize("text,value", [
    ("1.5", 1.5), ("-2", -2.0), ("+.5", 0.5), ("1.", 1.0), ("3e-4", 3e-4), ("1E3", 1000.0), (" 0.25 ", 0.25),
    ("0e999", 0.0), ("1e-310", 1e-310), ("1.7976931348623157e308", 1.7976931348623157e308),
])
def test_plain_decimals_are_read_exactly_as_python_reads_them(text, value):
    assert parse_number(text, float) == value == float(text)


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0e5", "+0", "0", "-.0", "-0."])
def test_minus_zero_is_zero(text):
    x = parse_number(text, float)
    assert x == 0.0 and math.copysign(1.0, x) == 1.0  # not -0.0: numpy's scale < 0 check sees the sign
    assert parse_number(text, int) == 0


@pytest.mark.parametrize("text,value", [("3", 3), ("-7", -7), ("3.0", 3), ("1e3", 1000), ("+12", 12),
                                        ("9007199254740993", 9007199254740993),  # beyond float precision
                                        (str(INT_LIMIT - 1), INT_LIMIT - 1), ("0001", 1)])
def test_whole_numbers_are_read_exactly(text, value):
    assert parse_number(text, int) == value


@pytest.mark.parametrize("text,kind", [("1.5", "not whole"), ("1e-400", "not whole"), (str(INT_LIMIT), "too large"),
                                       ("1e19", "too large"), ("1e999999999", "too large"), ("9" * 5000, "too large"),
                                       ("1_0", "spelling"), ("nan", "not finite")])
def test_integers_refuse_fractions_and_huge_values(text, kind):
    with pytest.raises(NumberError) as e:
        parse_number(text, int)
    assert e.value.kind == kind


def test_numberish_counts_refused_numbers_too():
    assert all(numberish(s) for s in ("1", "nan", "-inf", "1e400", "1e-400", " 2 "))
    assert not any(numberish(s) for s in ("x1", "label", "1_000", "٣", ""))


# --- one parser behind the schema and the CSV loader --------------------------------------------

UNBOUNDED = Field("x", float, 0.0, "", "")  # a float field without a range: only the parser decides
F32_MAX = float(np.finfo(np.float32).max)
ROWS = "".join(f"{i % 7}.5,{i % 3},{'ab'[i % 2]}\n" for i in range(24))
CSV_SPECIAL = set(',;\t\r\n"')  # would change the file's shape rather than the cell


def _via_schema(text: str) -> float | None:
    try:
        return UNBOUNDED.parse(text)
    except ConfigError:
        return None


def _via_csv(text: str) -> float | None:
    try:
        X, _, _ = load_points(f"x1,x2,label\n{text},1,a\n{ROWS}".encode())
    except DataError:
        return None
    return float(X[0, 0])


_pieces = st.sampled_from(["0", "1", "9", "5", ".", "e", "E", "-", "+", "_", " ", "x", "٣", "１", "inf", "nan",
                           "400", "308", "0x", "\u00a0", "\x0b", "\x1c"])
_texts = st.one_of(st.lists(_pieces, max_size=8).map("".join), st.floats().map(repr), st.integers().map(str),
                   st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.3e}"),
                   st.text(max_size=10))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_texts.filter(lambda s: not CSV_SPECIAL & set(s)))
def test_a_string_is_one_number_or_refused_in_the_schema_and_the_csv_loader(text):
    schema, csv = _via_schema(text), _via_csv(text)
    if schema is not None and abs(schema) > F32_MAX:
        assert csv is None  # the CSV loader's own rule: features are float32
        return
    if schema is None:
        assert csv is None, (text, csv)
    else:
        assert csv is not None and csv == float(np.float32(schema)), (text, schema, csv)
