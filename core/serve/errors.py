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


class NeedsConfirmation(BudgetError):
    """A run over the local budget (Limits.ask_first): nothing trains until the user confirms.
    `estimate` (core.serve.budget.Estimate) holds its figures, and says whether a confirmation
    could start it at all (estimate.refused: the memory limit no run may pass)."""

    def __init__(self, message: str, estimate):
        super().__init__(message)
        self.estimate = estimate
