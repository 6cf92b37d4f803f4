"""Refusals a page shows as they are: each message is one sentence for the person who asked."""
from __future__ import annotations


class ServeError(Exception):
    """Base of the errors whose message is meant for the visitor, never a traceback."""


class BudgetError(ServeError, ValueError):
    """A run too big for these limits (refused before any training)."""


class QueueFull(ServeError):
    """Every place in the training line is taken."""


class Cancelled(ServeError):
    """The caller went away (its cancelled() said so) before it was served."""
