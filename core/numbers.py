"""The one number parser: every number a person types (CLI flag, URL value, CSV cell) is read here.

Python's int() and float() accept far more than a person means by "a number": `1_000`, Arabic-
Indic digits (`٣`), full-width digits (`１`), `0x10` (int(x, 0)), `nan`, `inf`, and they turn
`1e-400` into 0.0 and `1e400` into inf without a word. Each entry point used to draw its own
line, so the CLI took what the CSV loader refused. Here the line is drawn once:

* plain decimal text only: ASCII digits, an optional sign, one '.', an optional exponent
  (`1.5`, `-2`, `+.5`, `3e-4`, `1.`); whitespace around it is ignored, nothing else is;
* finite, and representable: a value that would overflow to infinity or underflow to 0 is an
  error, never a silently different number (a subnormal like 1e-310 is kept: it is not 0);
* minus zero is zero, so `-0` and `0` give the same settings, the same store key, and never
  reach numpy as a negative scale.

Errors are `NumberError`, whose `reason` completes the sentence "the value is ...".
"""
from __future__ import annotations

import re
from decimal import Decimal

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_MANTISSA_NONZERO = re.compile(r"^[+-]?[0-9.]*[1-9]")
INT_LIMIT = 2**63  # integers at or beyond it are "too large" whatever the field's own range says
PLAIN = "a plain decimal number: ASCII digits with an optional sign, '.' and exponent, like 1.5, -2 or 3e-4"


class NumberError(ValueError):
    """Text that is not a number we accept. `reason` says why, as words ("not a whole number");
    `kind` is one of KINDS, for callers that word it their own way (the CSV loader)."""

    KINDS = ("empty", "spelling", "not finite", "too large", "too small", "not whole")

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def parse_number(text: str, kind: type = float) -> int | float:
    """`text` as an int (kind=int) or a float (kind=float), or NumberError.

    kind=int also takes decimal spellings of a whole number ("3.0", "1e3"), read exactly.
    """
    if kind not in (int, float):
        raise TypeError(f"kind must be int or float, not {kind!r}")
    s = text.strip()
    if not s:
        raise NumberError("empty", "empty")
    if not _DECIMAL.fullmatch(s):
        if _NON_FINITE.fullmatch(s):
            raise NumberError("not finite", "not finite: NaN and infinity are not numbers here")
        raise NumberError("spelling", f"not {PLAIN}")
    if kind is int:
        return _whole(s)
    x = float(s)
    if x in (float("inf"), float("-inf")):
        raise NumberError("too large", "too large: beyond ±1.8e308")
    if x == 0.0:
        if _MANTISSA_NONZERO.match(s):  # "1e-400": not zero, but float() made it zero
            raise NumberError("too small", "too close to 0: it would be read as 0")
        return 0.0  # also turns -0.0 into 0.0
    return x


def numberish(text: str) -> bool:
    """Spelled like a number, even one parse_number refuses ('nan', '1e400'): a CSV row of such
    cells is data to report, not a header."""
    s = text.strip()
    return bool(_DECIMAL.fullmatch(s) or _NON_FINITE.fullmatch(s))


def _whole(s: str) -> int:
    d = Decimal(s)  # exact, however many digits; no float rounding of "9007199254740993"
    if d.is_zero():
        return 0
    if d.adjusted() >= 19:  # checked before int(): "1e999999999" must not build a huge int
        raise NumberError("too large", "too large")
    if d != d.to_integral_value():
        raise NumberError("not whole", "not a whole number")
    n = int(d)
    if abs(n) >= INT_LIMIT:
        raise NumberError("too large", "too large")
    return n


def normal_float(x: float) -> float:
    """A float given as a number (JSON, a widget): minus zero is zero, like parse_number's."""
    return x + 0.0
