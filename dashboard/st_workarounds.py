"""Workarounds for bugs of the installed Streamlit, each feature-detected: where the private
object it needs is gone (a newer Streamlit), it does nothing and says so by its return value.

The layout stack's first-run race (Streamlit 1.67, `streamlit.delta_generator_singletons`):
Streamlit keeps each script thread's open containers (`with st.sidebar:`, `with st.form(...)`)
in a context variable it creates lazily, on the first use in the process, with
`if self._context_var is None: self._context_var = ContextVar(...)` and no lock. When the
first sessions of a fresh server start together (a class opening the link at once, the load
test), two threads can both see None: the later assignment replaces the variable the earlier
thread had already pushed its open containers onto, so that thread's page fails with
"`st.form_submit_button()` must be used inside an `st.form()`" or, when its container is left,
"IndexError: tuple index out of range" (seen in CI: 3 of 6 pages). Creating the variable once,
under a lock, before any element is drawn closes the race: app.py calls create_layout_stack()
first thing, and Python's import lock already serializes the first sessions' import of this
module.
"""
from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()


def layout_stack() -> Any | None:
    """Streamlit's lazily created layout stack (private), or None where it is not there."""
    try:
        from streamlit.delta_generator_singletons import context_dg_stack
    except ImportError:
        return None
    return context_dg_stack


def create_layout_stack(stack: Any | None = None, lock: Any = _LOCK) -> bool:
    """Create Streamlit's layout stack now, once, under a lock (see the module docstring):
    whether there was one to create. Cheap after the first call (one attribute read under an
    uncontended lock). stack/lock: stand-ins for the tests."""
    stack = layout_stack() if stack is None else stack
    if stack is None or not callable(getattr(stack, "get", None)):
        return False
    with lock:
        stack.get()  # its first get() creates the variable; every later one finds it
    return True
