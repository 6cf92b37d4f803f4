"""User text on its way out: cut for messages, made inert for a terminal and for a spreadsheet.

Values a stranger typed (a URL, a CSV cell, a flag, a stored run's names from an older version)
end up in error messages, terminal tables and CSV exports. Each medium has its own way for
text to act instead of being shown: a terminal obeys escape sequences, a spreadsheet runs a
cell that starts with '=' as a formula. These helpers are the one place each is handled,
with what a command does when the terminal's reader goes away (`| head`): quiet_stdout.
(Plotly labels have theirs in dashboard/charts/style.py `plain`; markdown in views/common.py.)
"""
from __future__ import annotations

import os
import sys
from typing import Any

SHOWN_CHARS = 80  # a user value longer than this is cut in messages: a 30 KB value must not flood one
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """At most `limit` characters of `text`, with '…' when something was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A user value for a one-line message: cut, and quoted (repr) so control characters show as
    escapes (`'\\x1b[2J'`) rather than acting."""
    if isinstance(value, str):
        return repr(cut(value, limit))
    return cut(repr(value), limit)


def terminal(text: Any) -> str:
    """`text` safe to print: every character a terminal might act on (C0/C1 controls, ESC, DEL,
    line breaks, bidirectional overrides) written as a visible escape like \\x1b or \\u202e.
    Ordinary Unicode (±, ×, …, accents) stays as it is."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else _escape(c) for c in s)


def _escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def csv_cell(value: Any) -> Any:
    """A cell for a CSV export: text that a spreadsheet would run as a formula gets a leading
    apostrophe (shown as text, not computed); numbers and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe(frame):
    """A copy of a pandas DataFrame with csv_cell applied to every text cell (numbers untouched)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if is_object_dtype(out[col]) or is_string_dtype(out[col]):  # pandas 3 text is 'str', older 'object'
            out[col] = out[col].map(csv_cell)
    return out


def quiet_stdout() -> None:
    """Standard output to /dev/null: Python flushes it again at exit, which would raise once more
    into a closed pipe (the recipe of the `signal` module's documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
