"""The refusals a page shows as they are: one base class, so a page needs one isinstance check."""
from __future__ import annotations

import pytest

from core.serve.errors import BudgetError, Cancelled, QueueFull, ServeError


@pytest.mark.parametrize("kind", [BudgetError, QueueFull, Cancelled])
def test_every_refusal_is_a_serve_error(kind):
    assert issubclass(kind, ServeError) and not issubclass(ServeError, kind)


def test_a_budget_error_is_still_a_value_error():
    # Callers that caught ValueError for a bad request (the CLI, older pages) keep working.
    with pytest.raises(ValueError, match="too big"):
        raise BudgetError("too big")
