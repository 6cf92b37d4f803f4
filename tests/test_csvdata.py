"""core.csvdata: valid inputs load; every bad input gets a DataError that says what and where."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.csvdata import MAX_BYTES, MAX_CLASSES, MAX_ROWS, MIN_ROWS, DataError, example_csv, load_points


def rows(n: int = MIN_ROWS, labels: tuple[str, ...] = ("a", "b"), sep: str = ",") -> list[str]:
    """n valid data lines cycling through the labels."""
    return [sep.join([f"{i * 0.5:.2f}", f"{-i:.1f}", labels[i % len(labels)]]) for i in range(n)]


def csv_bytes(lines: list[str], header: str | None = "x1,x2,label", newline: str = "\n") -> bytes:
    return newline.join(([header] if header else []) + lines).encode() + newline.encode()


def error(source: str | Path | bytes) -> str:
    with pytest.raises(DataError) as info:
        load_points(source)
    return str(info.value)


def check_result(X: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    """The documented contract of a successful load."""
    assert X.dtype == np.float32 and X.ndim == 2 and X.shape[1] == 2
    assert y.dtype == np.int64 and y.shape == (X.shape[0],)
    assert MIN_ROWS <= len(y) <= MAX_ROWS
    assert np.isfinite(X).all()
    assert 2 <= len(names) <= MAX_CLASSES and names == sorted(set(names), key=names.index)
    assert set(y.tolist()) == set(range(len(names)))  # every class is used
    assert np.bincount(y).min() >= 2


# ---------------------------------------------------------------- valid files


def test_example_csv_loads_with_header() -> None:
    text = example_csv(200, seed=3)
    assert text.startswith("x1,x2,label\n")
    X, y, names = load_points(text.encode())
    check_result(X, y, names)
    assert X.shape == (200, 2) and names == ["0", "1"] and np.bincount(y).tolist() == [100, 100]
    assert example_csv(200, seed=3) == text and example_csv(200, seed=4) != text


def test_example_csv_rejects_sizes_that_would_not_load() -> None:
    with pytest.raises(ValueError):
        example_csv(MIN_ROWS - 1)


def test_without_header_keeps_the_first_row() -> None:
    X, y, names = load_points(csv_bytes(rows(), header=None))
    check_result(X, y, names)
    assert len(y) == MIN_ROWS
    assert X[0].tolist() == [0.0, 0.0] and X[1].tolist() == [0.5, -1.0]
    assert names == ["a", "b"] and y[:4].tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_delimiters(sep: str) -> None:
    X, y, names = load_points(csv_bytes(rows(sep=sep), header=sep.join(["x1", "x2", "label"])))
    check_result(X, y, names)
    assert X[1].tolist() == [0.5, -1.0]


def test_string_labels_sorted_and_integer_labels_sorted_numerically() -> None:
    _, y, names = load_points(csv_bytes(rows(labels=("zebra", "ant", "moth"))))
    assert names == ["ant", "moth", "zebra"] and y[:3].tolist() == [2, 0, 1]
    _, y, names = load_points(csv_bytes(rows(labels=("10", "2", "-1"))))
    assert names == ["-1", "2", "10"] and y[:3].tolist() == [2, 1, 0]


def test_bom_and_crlf() -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(rows(), newline="\r\n")
    X, y, names = load_points(data)
    check_result(X, y, names)
    assert len(y) == MIN_ROWS and names == ["a", "b"]


def test_label_column_found_by_header_name() -> None:
    lines = [f"{lab},{i}.0,{i}.5" for i, lab in zip(range(MIN_ROWS), "ab" * MIN_ROWS, strict=False)]
    X, _, names = load_points(csv_bytes(lines, header="Class,f1,f2"))
    assert names == ["a", "b"] and X[3].tolist() == [3.0, 3.5]
    # "x,y,..." names point coordinates, so y is not taken as the label there...
    _, _, names = load_points(csv_bytes(rows(), header="x,y,kind"))
    assert names == ["a", "b"]
    # ...but on its own it is the usual name of the target.
    lines = [f"{i}.0,{lab},{i}.5" for i, lab in zip(range(MIN_ROWS), "ab" * MIN_ROWS, strict=False)]
    _, _, names = load_points(csv_bytes(lines, header="f1,Y,f2"))
    assert names == ["a", "b"]


def test_quotes_blank_lines_and_whitespace_are_tolerated() -> None:
    quoted = [",".join(f'" {cell} "' for cell in line.split(",")) for line in rows()]  # " 0.50 "," -1.0 "," b "
    X, _, names = load_points(csv_bytes(quoted[:5] + ["", "  ", ",,"] + quoted[5:]))
    assert len(X) == MIN_ROWS and X[1].tolist() == [0.5, -1.0] and names == ["a", "b"]


def test_path_inputs(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text(example_csv(50))
    for source in (path, str(path)):
        check_result(*load_points(source))


# ---------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    assert "not a readable file" in error(tmp_path / "nope.csv")
    assert "not a readable file" in error(str(tmp_path))


@pytest.mark.parametrize("data", [b"", b"  \n\r\n\t", b"\xef\xbb\xbf"])
def test_empty_file(data: bytes) -> None:
    assert "empty" in error(data)


def test_header_only() -> None:
    assert "header but no data rows" in error(b"x1,x2,label\n\n")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"x1,x2,label\n1,2,a\x00\n", "NUL"),
        ("x1,x2,label".encode("utf-16"), "NUL"),
        (b"x1,x2,label\n1,2,caf\xe9\n", "not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n", "not valid UTF-8"),
    ],
)
def test_binary_file(data: bytes, why: str) -> None:
    msg = error(data)
    assert "does not look like a CSV text file" in msg and why in msg


def test_too_large(tmp_path: Path) -> None:
    data = b"1,2,a\n" * (MAX_BYTES // 6 + 1)
    assert "limit is 5.0 MB" in error(data)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert "limit is 5.0 MB" in error(path)


def test_too_many_rows() -> None:
    msg = error(csv_bytes(rows(MAX_ROWS + 1)))
    assert f"more than {MAX_ROWS} data rows" in msg
    check_result(*load_points(csv_bytes(rows(MAX_ROWS))))  # the limit itself is fine


def test_too_few_rows() -> None:
    msg = error(csv_bytes(rows(MIN_ROWS - 1)))
    assert f"{MIN_ROWS - 1} data rows" in msg and f"at least {MIN_ROWS}" in msg


@pytest.mark.parametrize(("bad", "found"), [("1,2,a,extra", 4), ("1,2", 2), ("7", 1)])
def test_wrong_column_count(bad: str, found: int) -> None:
    lines = rows()
    lines[4] = bad  # file line 6: the header is line 1
    msg = error(csv_bytes(lines))
    assert f"Row 6 has {found} column" in msg and "3 are expected" in msg


def test_wrong_delimiter_is_named_in_column_count_error() -> None:
    assert "separated by ','" in error(b"1 2 a\n" * MIN_ROWS)


def test_non_numeric_feature_names_row_column_and_value() -> None:
    lines = rows()
    lines[9] = "1.5,twelve,a"
    msg = error(csv_bytes(lines))
    assert "Row 11, column 2 ('x2')" in msg and "'twelve' is not a number" in msg


def test_non_numeric_value_is_truncated_and_row_counts_blank_lines() -> None:
    lines = rows()
    lines[2] = "A" * 500 + ",1,b"
    msg = error(csv_bytes(["", *lines], header=None))  # a leading blank line still counts as line 1
    assert "Row 4, column 1:" in msg and "'" + "A" * 20 + "…'" in msg and "A" * 21 not in msg


@pytest.mark.parametrize("cell", ["1,5", "1_000", "0x10", "١"])
def test_unusual_number_spellings_are_rejected(cell: str) -> None:
    lines = rows(sep=";")
    lines[0] = f"{cell};1;a"
    assert f"{cell!r} is not a number" in error(csv_bytes(lines, header="x1;x2;label"))


@pytest.mark.parametrize("cell", ["nan", "NaN", "-inf", "Infinity"])
def test_nan_and_inf(cell: str) -> None:
    lines = rows()
    lines[3] = f"1,{cell},a"
    msg = error(csv_bytes(lines))
    assert "Row 5, column 2" in msg and "NaN or infinity" in msg


def test_nan_in_first_row_is_not_mistaken_for_a_header() -> None:
    assert "Row 1, column 1" in error(csv_bytes(["nan,nan,a", *rows()], header=None))


@pytest.mark.parametrize("cell", ["1e39", "-1e999"])
def test_out_of_float32_range(cell: str) -> None:
    lines = rows()
    lines[0] = f"{cell},1,a"
    assert "Row 2, column 1 ('x1'): " + repr(cell) + " is too large" in error(csv_bytes(lines))


@pytest.mark.parametrize("cell", ["1e-400", "-0.5e-330"])
def test_a_number_that_would_silently_become_zero_is_refused(cell: str) -> None:
    lines = rows()
    lines[0] = f"{cell},1,a"
    assert "Row 2, column 1 ('x1'): " + repr(cell) + " is too close to 0" in error(csv_bytes(lines))


@pytest.mark.parametrize("cell", ["-0", "-0.0"])
def test_minus_zero_is_zero(cell: str) -> None:
    lines = rows()
    lines[0] = f"{cell},1,a"
    X, _, _ = load_points(csv_bytes(lines))
    assert X[0, 0] == 0 and not np.signbit(X[0, 0])


def test_a_huge_path_is_cut_in_the_message(tmp_path: Path) -> None:
    msg = error(str(tmp_path / ("a" * 30_000)))
    assert "not a readable file" in msg and "…" in msg and len(msg) < 300


def test_empty_feature_cell() -> None:
    lines = rows()
    lines[7] = "1,,a"
    assert "Row 9, column 2 ('x2') is empty" in error(csv_bytes(lines))


def test_empty_first_cells_are_not_a_header() -> None:
    assert "Row 1, column 1 is empty" in error(csv_bytes([",,a", *rows()], header=None))


def test_empty_label_cell() -> None:
    lines = rows()
    lines[7] = "1,2,"
    assert "Row 9, column 3 ('label') is empty" in error(csv_bytes(lines))


def test_single_class() -> None:
    msg = error(csv_bytes(rows(labels=("only",))))
    assert "needs at least 2 classes" in msg and "'only'" in msg


def test_too_many_classes() -> None:
    labels = tuple(f"c{i}" for i in range(MAX_CLASSES + 1))
    msg = error(csv_bytes(rows(MIN_ROWS * 2, labels=labels)))
    assert f"{MAX_CLASSES + 1} different labels" in msg and f"at most {MAX_CLASSES} classes" in msg
    assert "column 3 ('label')" in msg


def test_class_with_one_example() -> None:
    lines = rows()
    lines[-1] = "1,2,lonely"
    msg = error(csv_bytes(lines))
    assert "'lonely'" in msg and "only 1 example" in msg and "training and validation" in msg


# ---------------------------------------------------------------- properties

# Cells that are sometimes valid and often not, so generated files hit both outcomes.
_cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["", " ", "a", "b", "x1", "label", '"', "'", "\\", "nan", "1e39", "1,5", "\r", "\n"]),
    st.text(max_size=6),
)
_labels = st.one_of(st.sampled_from(["a", "b", "0", "1", "2"]), _cells)


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """A mostly valid file with a few random defects, so both outcomes and every check get exercised."""
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t", " "]))
    n = draw(st.integers(0, MIN_ROWS * 2))
    labels = draw(st.lists(st.sampled_from(["a", "b", "0", "1", "10"]) | _labels, min_size=1, max_size=MAX_CLASSES + 2))
    body = [[repr(draw(st.floats(-1e3, 1e3))), str(draw(st.integers(-9, 9))), draw(st.sampled_from(labels))]
            for _ in range(n)]
    for _ in range(draw(st.integers(0, 3))):  # defects: a bad cell, a missing or extra cell, a blank line
        if body:
            r = draw(st.integers(0, len(body) - 1))
            kind = draw(st.sampled_from(["cell", "cell", "cell", "drop", "add", "blank"]))
            if kind == "cell" and body[r]:
                body[r][draw(st.integers(0, len(body[r]) - 1))] = draw(_cells)
            elif kind == "drop" and body[r]:
                body[r].pop()
            elif kind == "add":
                body[r].append(draw(_cells))
            else:
                body[r] = []
    header = draw(st.sampled_from([None, None, ["x1", "x2", "label"], ["label", "a", "b"], ["x", "y", "c"]]))
    if header:  # a header whose label column is not last needs its data rows to match
        body = [[cells[2], *cells[:2], *cells[3:]] if header[0] == "label" and len(cells) >= 3 else cells
                for cells in body]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(sep.join(cells) for cells in ([header] if header else []) + body)
    prefix = draw(st.sampled_from(["", "\ufeff"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
    return (prefix + text).encode(encoding, "replace")


def load_or_data_error(data: bytes) -> None:
    """The only two acceptable outcomes for any input."""
    try:
        result = load_points(data)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)  # one line, meant for a person
        return
    check_result(*result)


_fuzz = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_load_or_raise_data_error(data: bytes) -> None:
    load_or_data_error(data)


@_fuzz
@given(st.text(max_size=2000))
def test_arbitrary_text_load_or_raise_data_error(text: str) -> None:
    load_or_data_error(text.encode("utf-8", "surrogatepass"))


@_fuzz
@given(csv_like())
def test_csv_like_text_load_or_raise_data_error(data: bytes) -> None:
    load_or_data_error(data)


@_fuzz
@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from(["a", "b", "-3", "cat dog"])),
             min_size=MIN_ROWS, max_size=60),
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),
)
def test_valid_rows_round_trip(points: list[tuple[float, float, str]], sep: str, with_header: bool) -> None:
    """Well-formed files in any accepted dialect load exactly: the sniffer never picks the wrong delimiter."""
    header = sep.join(["x1", "x2", "label"]) if with_header else None
    data = csv_bytes([sep.join([repr(a), repr(b), lab]) for a, b, lab in points], header=header)
    counts = Counter(lab for _, _, lab in points)
    if len(counts) < 2 or min(counts.values()) < 2:
        assert "class" in error(data)
        return
    X, y, names = load_points(data)
    check_result(X, y, names)
    expected = np.array([(a, b) for a, b, _ in points], dtype=np.float32)
    assert np.array_equal(X, expected)
    assert [names[i] for i in y] == [lab for _, _, lab in points]
