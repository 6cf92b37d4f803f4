"""User-supplied 2-D point data: a small, strict CSV loader.

Uploads come from strangers on a public page, so the loader trusts nothing: it bounds the
input size before parsing, decodes strictly as UTF-8, parses with the standard `csv` module
only (no eval, no pickle), and turns every problem into a `DataError` whose message is one
sentence naming the problem, where it is (row as counted in a text editor, column), and
what is allowed. Anything that gets past it is safe to train on: finite float32 features,
at least two classes, and every class with enough examples to be split.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.numbers import NumberError, numberish, parse_number
from core.safetext import shown

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20000
MIN_ROWS = 20
MAX_CLASSES = 10

LABEL_NAMES = ("label", "class", "target", "y")  # header names that mark the label column, by priority
_SNIFF_CHARS = 4096  # csv.Sniffer is regex based and quadratic in the worst case: keep its sample small
_SHOW_CHARS = 20  # cells are echoed back cut this short, so a huge cell cannot flood the message
_F32_MAX = float(np.finfo(np.float32).max)
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab"}


class DataError(ValueError):
    """Data that cannot be used; the message is one sentence meant for the person who uploaded it."""


def _show(value: str) -> str:
    """A cell for an error message: cut short, and repr-quoted so control characters show."""
    return shown(value, _SHOW_CHARS)


def _path(path: str) -> str:
    return shown(path)  # a path is the user's own text too: cut at the usual length


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _read_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    """Raw bytes, never more than MAX_BYTES + 1 of them read, so a huge file costs nothing."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_BYTES:
            raise DataError(f"The file is {_mb(len(data))}; the limit is {_mb(MAX_BYTES)}.")
        return data
    path = os.fspath(source)
    try:
        if not os.path.isfile(path):  # also rules out FIFOs and devices, whose read could block
            raise DataError(f"{_path(path)} is not a readable file; give the path of a CSV file.")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DataError(f"Could not read {_path(path)} ({exc.strerror or exc}); give the path of a readable CSV file.") from exc
    if len(data) > MAX_BYTES:
        size = max(len(data), os.path.getsize(path))
        raise DataError(f"The file is {_mb(size)}; the limit is {_mb(MAX_BYTES)}.")
    return data


def _decode(data: bytes) -> str:
    not_text = "The file does not look like a CSV text file ({}); upload plain text saved as UTF-8 (in Excel: 'CSV UTF-8')."
    if b"\x00" in data:  # UTF-16 exports and binary formats (xlsx, images) both contain NULs
        raise DataError(not_text.format("it contains NUL bytes"))
    try:
        return data.decode("utf-8-sig")  # -sig: drop the BOM that Excel puts in front
    except UnicodeDecodeError as exc:
        raise DataError(not_text.format(f"byte {exc.start} is not valid UTF-8")) from None


def _sniff_delimiter(text: str) -> str:
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only, or the last row looks short
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:  # e.g. a single column: comma gives the clearest column-count error
        return ","


def _is_numberish(cell: str) -> bool:
    """Number-like for header detection: 'nan' counts, so a NaN row is reported, not eaten as a header."""
    return numberish(cell)


def _label_column(header: list[str] | None) -> int:
    if header is None:
        return 2
    lowered = [name.lower() for name in header]
    for name in LABEL_NAMES:
        # "x,y,<label>" is the usual way to name 2-D points: there "y" is a coordinate, not the target.
        if name == "y" and "x" in lowered:
            continue
        if name in lowered:
            return lowered.index(name)
    return 2


def _rows(text: str, delimiter: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """(header or None, [(line number, 3 stripped cells)]), checking shape and the row limit as it reads."""
    # newline="" keeps CR, LF and CRLF line ends for the csv module, which handles all three.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    seen_first = False
    line = 0
    while True:
        start = line + 1  # a quoted cell may span lines; report the line where the row starts
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"Row {start} could not be read as CSV ({exc}); "
                            f"cells must be plain values separated by {_DELIMITER_NAMES[delimiter]}.") from None
        line = reader.line_num
        cells = [cell.strip() for cell in raw]
        if not any(cells):  # blank lines and all-empty rows (",,", common at the end of Excel exports)
            continue
        if len(cells) != 3:
            raise DataError(f"Row {start} has {len(cells)} column{'s' if len(cells) != 1 else ''} "
                            f"but 3 are expected (two numbers and a label, separated by {_DELIMITER_NAMES[delimiter]}).")
        if not seen_first:
            seen_first = True
            # A header is optional: the first row is one if its first two cells are words, not numbers.
            if all(cells[:2]) and not any(_is_numberish(c) for c in cells[:2]):
                header = cells
                continue
        if len(rows) == MAX_ROWS:  # stop early: no point parsing the rest of an oversized file
            raise DataError(f"The file has more than {MAX_ROWS} data rows; at most {MAX_ROWS} are allowed.")
        rows.append((start, cells))
    return header, rows


def _column(index: int, header: list[str] | None) -> str:
    name = f" ({_show(header[index])})" if header is not None else ""
    return f"column {index + 1}{name}"


def _feature(cell: str, line: int, col: int, header: list[str] | None) -> float:
    where = f"Row {line}, {_column(col, header)}"
    if not cell:
        raise DataError(f"{where} is empty; every feature cell needs a number.")
    try:
        value = parse_number(cell, float)  # the same rules as a number in a URL or a CLI flag
    except NumberError as e:
        if e.kind == "not finite":
            raise DataError(f"{where} is {_show(cell)}; features must be finite numbers (no NaN or infinity).") from None
        if e.kind == "too large":
            raise DataError(f"{where}: {_show(cell)} is too large; features must lie within ±3.4e38.") from None
        if e.kind == "too small":
            raise DataError(f"{where}: {_show(cell)} is too close to 0 to be read (it would become 0); "
                            "write 0 if 0 is meant.") from None
        raise DataError(f"{where}: {_show(cell)} is not a number; features must be plain numbers "
                        "like 1.5, -2 or 3e-4 (with '.' as the decimal point).") from None
    if abs(value) > _F32_MAX:  # e.g. 1e39: finite in float64, inf in float32
        raise DataError(f"{where}: {_show(cell)} is too large; features must lie within ±3.4e38.")
    return value


def _label_order(label: str) -> tuple[int, int, str]:
    """Integer labels sort numerically (2 before 10); other strings after them, alphabetically."""
    if re.fullmatch(r"[+-]?[0-9]{1,18}", label):
        return (0, int(label), label)
    return (1, 0, label)


def load_points(source: str | os.PathLike[str] | bytes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load a CSV of 2-D points with a label column, or raise DataError saying what is wrong.

    `source` is a file path (str or PathLike) or the file's raw bytes (e.g. an upload).
    Returns X (N, 2) float32, y (N,) int64 with values 0..C-1, and class_names: the original
    label strings, sorted (integers numerically), so that class_names[y[i]] is row i's label.
    """
    text = _decode(_read_bytes(source))
    if not text.strip():
        raise DataError(f"The file is empty; it needs at least {MIN_ROWS} rows of 'x1,x2,label'.")
    delimiter = _sniff_delimiter(text)
    header, rows = _rows(text, delimiter)
    if not rows:
        raise DataError(f"The file has {'a header but ' if header else ''}no data rows; "
                        f"it needs at least {MIN_ROWS} rows of 'x1,x2,label'.")
    if len(rows) < MIN_ROWS:
        raise DataError(f"The file has {len(rows)} data row{'s' if len(rows) != 1 else ''}; at least {MIN_ROWS} are needed.")

    label_col = _label_column(header)
    feature_cols = [c for c in range(3) if c != label_col]
    features: list[tuple[float, float]] = []
    labels: list[str] = []
    for line, cells in rows:
        a, b = (_feature(cells[c], line, c, header) for c in feature_cols)
        if not cells[label_col]:
            raise DataError(f"Row {line}, {_column(label_col, header)} is empty; every row needs a label.")
        features.append((a, b))
        labels.append(cells[label_col])

    where = f"label {_column(label_col, header)}"  # naming it helps when the guessed label column is wrong
    counts = Counter(labels)
    if len(counts) < 2:
        raise DataError(f"Every row has the same label {_show(labels[0])} in the {where}; "
                        "the data needs at least 2 classes.")
    if len(counts) > MAX_CLASSES:
        raise DataError(f"The {where} has {len(counts)} different labels; at most {MAX_CLASSES} classes are allowed.")
    class_names = sorted(counts, key=_label_order)
    rare = [name for name in class_names if counts[name] < 2]
    if rare:
        listed = ", ".join(_show(name) for name in rare[:3]) + (", …" if len(rare) > 3 else "")
        raise DataError(f"Class{'es' if len(rare) > 1 else ''} {listed} in the {where} "
                        f"{'have' if len(rare) > 1 else 'has'} only 1 example; every class needs at least 2 "
                        "so it can appear in both training and validation.")

    index = {name: i for i, name in enumerate(class_names)}
    X = np.asarray(features, dtype=np.float32).reshape(len(features), 2)
    y = np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    return X, y, class_names


def example_csv(n: int = 200, seed: int = 0) -> str:
    """A valid template: two noisy Gaussian blobs, header 'x1,x2,label', rows shuffled."""
    if not MIN_ROWS <= n <= MAX_ROWS:
        raise ValueError(f"n must be between {MIN_ROWS} and {MAX_ROWS}, got {n}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)  # balanced, and both classes show in the first few lines
    centers = np.array([[-1.0, -1.0], [1.0, 1.0]])
    X = centers[y] + rng.normal(scale=0.7, size=(n, 2))
    lines = ["x1,x2,label"] + [f"{a:.4f},{b:.4f},{label}" for (a, b), label in zip(X, y, strict=True)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CsvInfo:
    sha256: str
    rows: int


_INFO_CACHE: dict[tuple[str, int, int], CsvInfo] = {}
_INFO_LOCK = threading.Lock()


def csv_info(path: str) -> CsvInfo:
    """Content hash and row count of a CSV data file (DataError if it cannot be used).

    Cached by (path, size, mtime): the page asks for the same upload on every rerun."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"Could not read {_path(path)} ({e.strerror or e}); give the path of a readable CSV file.") from e
    ck = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _INFO_LOCK:
        hit = _INFO_CACHE.get(ck)
    if hit is not None:
        return hit
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise DataError(f"Could not read {_path(path)} ({e.strerror or e}); give the path of a readable CSV file.") from e
    x, _, _ = load_points(data)  # validates, and bounds the size; raises DataError
    info = CsvInfo(hashlib.sha256(data).hexdigest(), len(x))
    with _INFO_LOCK:
        if len(_INFO_CACHE) > 64:
            _INFO_CACHE.clear()
        _INFO_CACHE[ck] = info
    return info
