"""Every registered name has an implementation, and every trait agrees with what it does.

Traits are checked against facts computed from the implementation (autograd, torch.nn, the data
themselves), never against a second list of names: a new entry is checked by these tests as is.
"""
import numpy as np
import pytest
import torch
from torch import nn

from core.config import FIELD, validate
from core.csvdata import MAX_CLASSES, example_csv
from core.data import make_dataset
from core.registry import ACTIVATIONS, DATASETS, INITS, MODELS, OPTIMIZERS

# Pre-activations the lab sees; float32 rounding makes GELU exactly 0 below -5.5 (pinned below).
Z = torch.linspace(-5.0, 5.0, 100_001)
NEG, POS = Z[Z <= 0], Z[Z > 0]
FAR = torch.tensor([-10.0, 10.0])


def test_the_settings_offer_exactly_the_registered_names():
    for field, reg in [("activation", ACTIVATIONS), ("init", INITS), ("optimizer", OPTIMIZERS),
                       ("dataset", DATASETS), ("model", MODELS)]:
        assert FIELD[field].choices == tuple(reg)


# --- activations ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_derivative_matches_autograd(name):
    act = ACTIVATIONS[name]
    z = torch.cat([Z, torch.tensor([0.0, -0.0, -30.0, 30.0])]).requires_grad_(True)
    (ref,) = torch.autograd.grad(act.fn(z).sum(), z)
    torch.testing.assert_close(act.grad(z.detach()), ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_grad_max_is_the_derivatives_maximum(name):
    act = ACTIVATIONS[name]
    top = act.grad(Z).max().item()
    assert top <= act.grad_max * (1 + 1e-4) and top == pytest.approx(act.grad_max, rel=1e-4)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_module_is_the_same_function(name):
    act = ACTIVATIONS[name]
    m = act.module()
    assert isinstance(m, nn.Module) and not list(m.parameters())
    assert torch.equal(m(Z), act.fn(Z))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_in_place_version_computes_fn_in_place(name):
    act = ACTIVATIONS[name]
    if act.fn_ is None:
        return
    assert act.saturates_where_negative  # forward() hands the metrics no z only for these
    z = Z.clone()
    out = act.fn_(z)
    assert out.data_ptr() == z.data_ptr() and torch.equal(out, act.fn(Z))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_zero_below(name):
    act = ACTIVATIONS[name]
    assert act.zero_below == bool((act.fn(NEG) == 0).all())


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_exact_zeros_means_off_on_an_open_set(name):
    # On a fine grid, an open set of zeros contains grid points other than z = 0.
    act = ACTIVATIONS[name]
    assert act.exact_zeros == bool(((act.fn(Z) == 0) & (Z != 0)).any())


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_keeps_negative_means_a_rectifier_that_bends_negative_inputs(name):
    # Large positive inputs pass (nearly) unchanged; every negative input gives a non-zero
    # output; and the negative side is bent, not passed through (that would be linear).
    act = ACTIVATIONS[name]
    neg = NEG[NEG < 0]
    a = act.fn(neg)
    rectifier = abs(act.fn(torch.tensor(10.0)).item() - 10.0) < 1e-3
    fact = rectifier and bool((a != 0).all()) and not torch.equal(a, neg)
    assert act.keeps_negative == fact


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_saturates_means_the_derivative_vanishes_on_both_sides(name):
    act = ACTIVATIONS[name]
    assert act.saturates == bool((act.grad(FAR) < 0.01 * act.grad_max).all())


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_saturates_where_negative_means_relus_shape(name):
    # What the engine's shortcuts rely on (core.metrics, core.models.relu_backward).
    act = ACTIVATIONS[name]
    fact = (torch.equal(act.fn(Z), torch.where(Z > 0, Z, 0.0))
            and torch.equal(act.grad(Z), (Z > 0).float()))
    assert act.saturates_where_negative == fact


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_mask_says_what_off_means(name):
    # None: every output is > 0, so nothing is ever off (sigmoid); "zero": outputs are >= 0 and
    # off means exactly 0; "sign": outputs go below 0 and off means <= 0. The metrics read "on"
    # as output > 0 for both, which is z > 0 for every activation with a mask.
    act = ACTIVATIONS[name]
    a = act.fn(Z)
    never_off = bool((act.fn(torch.linspace(-80.0, 80.0, 100_001)) > 0).all())
    assert act.mask == (None if never_off else "zero" if bool((a >= 0).all()) else "sign")
    if act.mask is not None:
        assert torch.equal(a > 0, Z > 0)


def test_float32_rounding_facts_the_traits_set_aside():
    # GELU is mathematically never 0 off z = 0, but its float32 value is exactly 0 below about
    # -5.5; SiLU and sigmoid only below about -88.7. The traits describe the functions.
    assert ACTIVATIONS["gelu"].fn(torch.tensor(-5.6)).item() == 0.0
    assert ACTIVATIONS["gelu"].fn(torch.tensor(-5.4)).item() != 0.0
    for name in ("silu", "sigmoid"):
        fn = ACTIVATIONS[name].fn
        assert (fn(torch.linspace(-88.0, -0.01, 10_001)) != 0).all()
        assert fn(torch.tensor(-90.0)).item() == 0.0


def test_sigmoid_is_never_exactly_off_and_relu_is_off_for_every_negative_input():
    z = torch.linspace(-80.0, 80.0, 100_001)
    assert (ACTIVATIONS["sigmoid"].fn(z) > 0).all()
    assert (ACTIVATIONS["relu"].fn(z[z <= 0]) == 0).all() and (ACTIVATIONS["relu"].fn(z[z > 0]) > 0).all()


# --- initializations --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(INITS))
def test_init_matches_torch_nn_init_in_distribution(name):
    init, fi, fo = INITS[name], 400, 2000
    g = torch.Generator().manual_seed(0)
    w, b = init.weight((fi, fo), fi, fo, g), init.bias((1, fo), fi, fo, g)
    torch.manual_seed(0)
    lin = nn.Linear(fi, fo)
    init.nn_init(lin)
    assert w.shape == (fi, fo) and b.shape == (1, fo)
    assert w.std().item() == pytest.approx(lin.weight.std().item(), rel=0.02)
    assert abs(w.mean().item()) < 0.01 * w.std().item()
    if lin.bias.abs().max() == 0:
        assert b.abs().max() == 0
    else:
        assert b.std().item() == pytest.approx(lin.bias.std().item(), rel=0.1)


@pytest.mark.parametrize("name", list(INITS))
def test_init_draws_only_from_the_given_generator(name):
    init = INITS[name]
    a = init.weight((30, 20), 30, 20, torch.Generator().manual_seed(3))
    b = init.weight((30, 20), 30, 20, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# --- optimizers -------------------------------------------------------------------------------

def _steps(opt_params, opt, steps=20):
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in opt_params:
            p.grad = (2 * p.detach() + torch.randn(p.shape, generator=g)).contiguous()
        opt.step()
    return opt


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_labs_optimizer_updates_as_its_plain_torch_optim_equivalent(name):
    cfg = validate(optimizer=name, lr=0.05, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 4, 5, generator=g), torch.randn(3, 1, 5, generator=g)]
    ours = [p.clone().requires_grad_(True) for p in start]
    ref = [p.clone().requires_grad_(True) for p in start]
    opt, ref_opt = _steps(ours, OPTIMIZERS[name].make(cfg, ours)), _steps(ref, OPTIMIZERS[name].plain(cfg, ref))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    for o, ps in ((opt, ours), (ref_opt, ref)):
        held = [v for v in o.state.get(ps[0], {}).values() if torch.is_tensor(v) and v.shape == ps[0].shape]
        assert len(held) == OPTIMIZERS[name].state_tensors


# --- data sets and models ---------------------------------------------------------------------

def _settings(name, tmp_path):
    if name != "csv":
        return {"dataset": name, "n_samples": 300}
    p = tmp_path / "pts.csv"
    p.write_text(example_csv(300))
    return {"dataset": name, "data_path": str(p)}


@pytest.mark.parametrize("name", list(DATASETS))
def test_data_sets_load_what_their_traits_say(name, tmp_path):
    ds, cfg = DATASETS[name], validate(_settings(name, tmp_path))
    x, y = ds.load(cfg, 300, np.random.default_rng(0))
    x2, y2 = ds.load(cfg, 300, np.random.default_rng(0))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # randomness from rng only
    assert x.shape == (300, ds.n_features) and np.isfinite(x).all()
    classes = np.unique(y)
    assert np.array_equal(classes, np.arange(len(classes)))
    assert len(classes) == ds.n_classes if ds.n_classes is not None else len(classes) <= MAX_CLASSES
    assert ds.max_classes == (ds.n_classes or MAX_CLASSES)
    d = make_dataset(cfg)
    assert d.is_2d == ds.is_2d and d.n_classes == len(classes)
    if ds.images:  # 8x8 images, flattened
        assert ds.n_features == 64 and not ds.is_2d


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", list(DATASETS))
def test_a_model_that_needs_images_is_refused_other_data(model, name, tmp_path):
    settings = {**_settings(name, tmp_path), "model": model}
    if MODELS[model].needs_images and not DATASETS[name].images:
        with pytest.raises(ValueError, match="works on images"):
            validate(settings)
    else:
        cfg = validate(settings)
        d = make_dataset(cfg)
        assert d.x_train.dim() == (4 if MODELS[model].needs_images else 2)  # the CNN gets (N, 1, 8, 8)
