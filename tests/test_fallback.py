"""Private-op lookup and its one warning (the fallbacks themselves: test_optim.py, test_models.py)."""
import warnings

import pytest
import torch

from core import fallback


def test_private_op_is_the_attribute_or_none():
    assert fallback.private_op(torch, "_fused_adam_") is torch._fused_adam_
    assert fallback.private_op(torch.ops.aten, "threshold_backward") is not None
    assert fallback.private_op(torch, "_no_such_op_") is None
    assert fallback.private_op(torch.ops.aten, "no_such_op") is None


def test_each_missing_op_warns_once(monkeypatch):
    monkeypatch.setattr(fallback, "_warned", set())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            fallback.warn_missing("torch._a_", "plan A")
        fallback.warn_missing("torch._b_", "plan B")
    assert [str(w.message).split(" is not")[0] for w in seen] == ["torch._a_", "torch._b_"]
    assert all(w.category is RuntimeWarning for w in seen)
    assert "using plan A instead" in str(seen[0].message) and torch.__version__ in str(seen[0].message)


def test_the_warning_points_at_the_caller_of_the_code_that_needs_the_op(monkeypatch):
    monkeypatch.setattr(fallback, "_warned", set())

    def needs_op():
        fallback.warn_missing("torch._c_", "plan C")

    with pytest.warns(RuntimeWarning) as seen:
        needs_op()
    assert seen[0].filename == __file__
