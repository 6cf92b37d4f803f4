"""core.slices: per-slice settings, and several activations applied as one, against each activation alone."""
import numpy as np
import pytest
import torch

from core.config import validate
from core.registry import ACTIVATIONS
from core.slices import PerSlice, SlicedActivation, Slices, activation_of, runs

NAMES = ["relu", "relu", "tanh", "linear", "linear", "gelu"]


def _z(S, rows=30, units=16, seed=0):
    return torch.randn(S, rows, units, 1, generator=torch.Generator().manual_seed(seed)) * 3


def test_slices_list_every_variants_seeds_in_order():
    a, b = validate(seeds=2, seed=5, dropout=0.5), validate(seeds=1, activation="tanh", init="he")
    s = Slices.of([a, b])
    assert len(s) == 3 and s.seeds == (5, 6, 0) and s.activations == ("relu", "relu", "tanh")
    assert s.dropouts == (0.5, 0.5, 0.0) and s.inits == ("default", "default", "he")
    assert s.draws == [True, True, False]


def test_runs_are_contiguous_equal_values():
    assert runs(NAMES) == [(0, 2, "relu"), (2, 3, "tanh"), (3, 5, "linear"), (5, 6, "gelu")]


def test_one_activation_is_the_registrys_own():
    assert activation_of(["tanh"] * 3) is ACTIVATIONS["tanh"]
    assert isinstance(activation_of(NAMES), SlicedActivation)


@pytest.mark.parametrize("snapshots", [1, 3])
@pytest.mark.parametrize("units", [16, 13])  # 13: slices that do not split into whole vectors
def test_each_slice_gets_its_own_activation_and_derivative(snapshots, units):
    act = SlicedActivation(NAMES, len(NAMES) * snapshots)
    z = _z(len(NAMES) * snapshots, units=units)
    for f, name in ((act.fn, "fn"), (act.grad, "grad")):
        out = f(z)
        assert out.shape == z.shape
        for j in range(len(z)):
            want = getattr(ACTIVATIONS[NAMES[j % len(NAMES)]], name)(z[j:j + 1])
            assert torch.equal(out[j:j + 1], want), (name, j)


def test_into_a_buffer_and_in_place_give_the_same_activations():
    act = SlicedActivation(NAMES)
    z = _z(len(NAMES))
    want = act.fn(z)
    buf = torch.full_like(z, 7.0)
    with torch.no_grad():
        assert act.fn(z, out=buf) is buf and torch.equal(buf, want)
    # in place only where every run allows it (ReLU in place, linear as it is): not with tanh
    assert act.fn_in_place(z.clone()) is None
    both = SlicedActivation(["linear", "relu", "relu"])
    z3 = _z(3)
    expected = both.fn(z3)
    assert torch.equal(both.fn_in_place(z3), expected) and torch.equal(z3, expected)


def test_backward_over_the_incoming_gradient_is_each_activations_own():
    from core.models import act_backward
    act = SlicedActivation(NAMES)
    z, g = _z(len(NAMES)), _z(len(NAMES), seed=1)
    got = act_backward(act, g.clone(), z)
    for j, name in enumerate(NAMES):
        zz = z[j:j + 1].clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(ACTIVATIONS[name].fn(zz), zz, g[j:j + 1])
        torch.testing.assert_close(got[j:j + 1], ref, atol=1e-6, rtol=1e-6)


def test_autograd_through_a_sliced_activation_is_each_activations_own():
    act = SlicedActivation(NAMES)
    z = _z(len(NAMES)).requires_grad_(True)
    g = _z(len(NAMES), seed=1)
    (got,) = torch.autograd.grad(act.fn(z), z, g)
    for j, name in enumerate(NAMES):
        zz = z.detach()[j:j + 1].clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(ACTIVATIONS[name].fn(zz), zz, g[j:j + 1])
        assert torch.equal(got[j:j + 1], ref), name


def test_traits_hold_only_where_every_slice_has_them():
    mixed = SlicedActivation(["relu", "leaky_relu"])
    assert not mixed.zero_below and not mixed.saturates_where_negative and mixed.fn_ is None
    assert SlicedActivation(["relu", "leaky_relu", "elu"], 6).keeps_negative is False
    assert SlicedActivation(["tanh", "sigmoid"]).saturates


def test_a_per_slice_threshold_compares_as_the_single_activations_python_float():
    # core.metrics compares float32 figures with 0.01 * act.grad_max: a Python float there is
    # rounded once to float32. Per slice it must round the same way, not in float64.
    names = ["gelu", "silu", "sigmoid", "relu"]
    thr = 0.01 * SlicedActivation(names, 8).grad_max
    assert thr.shape == (8, 1) and thr.dtype == torch.float32
    for j, n in enumerate(names * 2):
        t = 0.01 * ACTIVATIONS[n].grad_max
        edge = torch.tensor([float(np.float32(t)), float(np.nextafter(np.float32(t), np.float32(0)))])
        assert torch.equal(edge < thr[j], edge < t), n
    assert isinstance(PerSlice([1.0]) * 2.0, torch.Tensor)


def test_a_stack_must_hold_whole_repeats():
    with pytest.raises(ValueError, match="whole repeats"):
        SlicedActivation(NAMES, 7)
