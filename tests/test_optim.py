"""core.optim.Adam and SGD against torch.optim, the independent answer, and their fallbacks."""
import functools
import warnings

import numpy as np
import pytest
import torch

from core import optim
from core.fallback import private_op
from core.optim import SGD, Adam


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 4, 5, generator=g), torch.randn(3, 1, 5, generator=g)]


def _run(make, steps=25, seed=0):
    params = [p.clone().requires_grad_(True) for p in _params(seed)]
    opt = make(params)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        for p in params:
            # gradients of a fixed quadratic plus noise: the updates depend on the history
            p.grad = (2 * p.detach() + torch.randn(p.shape, generator=g)).contiguous()
        opt.step()
    return params, opt


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("lr", [1e-3, 0.1])
def test_bit_for_bit_torch_fused_adam(lr, weight_decay):
    ours, _ = _run(lambda ps: Adam(ps, lr=lr, weight_decay=weight_decay))
    ref, _ = _run(lambda ps: torch.optim.Adam(ps, lr=lr, weight_decay=weight_decay, fused=True))
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_matches_the_default_adam_to_1e6():
    ours, _ = _run(lambda ps: Adam(ps, lr=0.01, weight_decay=0.001))
    ref, _ = _run(lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.001))  # for-loop implementation
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_state_is_per_parameter_and_counts_steps():
    params, opt = _run(lambda ps: Adam(ps, lr=0.01), steps=7)
    assert opt._step.item() == 7
    for p in params:
        assert opt.state[p]["exp_avg"].shape == p.shape and opt.state[p]["exp_avg_sq"].min() >= 0


def test_a_missing_gradient_is_an_error_not_a_silent_skip():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient"):
        Adam([p], lr=0.1).step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_bit_for_bit_torch_fused_sgd(momentum, weight_decay):
    ours, _ = _run(lambda ps: SGD(ps, lr=0.05, momentum=momentum, weight_decay=weight_decay))
    ref, _ = _run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=momentum, weight_decay=weight_decay, fused=True))
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_sgd_matches_the_default_sgd_to_1e6_and_keeps_torch_optims_state():
    ours, opt = _run(lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.001))
    ref, ref_opt = _run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.001))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(opt.state[a]["momentum_buffer"], ref_opt.state[b]["momentum_buffer"],
                                   atol=1e-6, rtol=1e-6)


def test_training_never_imports_torch_dynamo():
    # torch.optim's first step imports torch._dynamo, about a second: a teacher switching to SGD
    # would wait for it. The lab's optimizers call the fused kernels directly (fresh process).
    import subprocess
    import sys
    from pathlib import Path
    code = ("import sys\nfrom core.config import validate\nfrom core.train import train\n"
            "for opt in ('sgd', 'momentum', 'adam'):\n"
            "    train(validate(n_samples=100, epochs=1, optimizer=opt, lr=0.1, batchnorm=opt == 'momentum'))\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "False", out.stderr


# --- make_optimizer -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "ref"), [
    ("adam", lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.01, fused=True)),
    ("momentum", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01, fused=True)),
    ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.05, weight_decay=0.01, fused=True)),
])
def test_make_optimizer_gives_the_named_optimizer_bit_for_bit(name, ref):
    from core.config import validate
    from core.optim import make_optimizer
    cfg = validate(optimizer=name, lr=0.05, weight_decay=0.01)
    ours, _ = _run(lambda ps: make_optimizer(cfg, ps))
    theirs, _ = _run(ref)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


# --- fallbacks where torch lacks the private kernel ------------------------------------------------

CASES = [
    ("FUSED_ADAM", "_fused_adam_", "Adam", lambda ps: Adam(ps, lr=0.01, weight_decay=0.01)),
    ("FUSED_SGD", "_fused_sgd_", "SGD", lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("FUSED_SGD", "_fused_sgd_", "SGD", lambda ps: SGD(ps, lr=0.05)),
]


@pytest.fixture
def fresh_warnings(monkeypatch):
    from core import fallback
    monkeypatch.setattr(fallback, "_warned", set())


def _run_warned(make):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        params, opt = _run(make)
        _run(make)  # a second optimizer: no second warning
    return params, opt, [str(w.message) for w in seen if w.category is RuntimeWarning]


@pytest.mark.parametrize(("detected", "op", "cls", "make"), CASES)
def test_missing_kernel_falls_back_to_torch_optim_fused_bit_for_bit(monkeypatch, fresh_warnings,
                                                                    detected, op, cls, make):
    fast, fast_opt = _run(make)
    monkeypatch.setattr(optim, detected, None)
    slow, slow_opt, msgs = _run_warned(make)
    assert slow_opt._stock is not None and type(slow_opt._stock).__name__ == cls
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)
        for k, v in fast_opt.state.get(a, {}).items():  # same state, under torch.optim's keys
            assert torch.equal(v, slow_opt.state[b][k])
    assert msgs == [f"torch.{op} is not in torch {torch.__version__}: using torch.optim.{cls}(fused=True) instead"]


@pytest.mark.parametrize(("detected", "op", "cls", "make"), CASES)
def test_without_a_fused_torch_optim_the_fallback_is_foreach(monkeypatch, fresh_warnings, detected, op, cls, make):
    fast, _ = _run(make)
    monkeypatch.setattr(optim, detected, None)
    monkeypatch.setattr(optim, "_stock_fused_works", lambda cls: False)
    slow, slow_opt, msgs = _run_warned(make)
    assert slow_opt._stock.defaults["foreach"] is True
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert len(msgs) == 1 and f"torch.optim.{cls}(foreach=True)" in msgs[0]


def test_a_torch_without_the_op_at_all_still_trains(monkeypatch, fresh_warnings):
    # The op really gone: torch.optim's own fused path calls it too, so the fallback must find
    # that out (once) and use foreach.
    fast, _ = _run(lambda ps: Adam(ps, lr=0.01))
    monkeypatch.delattr(torch, "_fused_adam_")
    monkeypatch.setattr(optim, "FUSED_ADAM", private_op(torch, "_fused_adam_"))
    monkeypatch.setattr(optim, "_stock_fused_works", functools.cache(optim._stock_fused_works.__wrapped__))
    assert optim.FUSED_ADAM is None and not optim._stock_fused_works(torch.optim.Adam)
    slow, opt, msgs = _run_warned(lambda ps: Adam(ps, lr=0.01))
    assert opt._stock.defaults["foreach"] is True and len(msgs) == 1
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_training_with_the_fallback_gives_the_same_numbers(monkeypatch, fresh_warnings):
    from core.config import validate
    from core.train import train
    cfg = validate(n_samples=120, epochs=2, seeds=2, batch_size=16, dropout=0.3)
    fast = train(cfg)
    monkeypatch.setattr(optim, "FUSED_ADAM", None)
    with pytest.warns(RuntimeWarning, match="_fused_adam_"):
        slow = train(cfg)
    assert fast.metrics.keys() == slow.metrics.keys()
    for k, v in fast.metrics.items():
        if k == "seconds":  # wall time
            continue
        assert np.array_equal(v, slow.metrics[k], equal_nan=True), k


# --- variants as slices: each variant's slices with its own settings -----------------------------

# Per slice: a weight of 64 numbers (handed over for several variants at once) and one of 15
# (variant by variant: a fused kernel rounds a tensor's short tail on another path).
SLICE_SHAPES = [(8, 8), (3, 5)]


def _sliced_run(parts, steps=25):
    """parts: [(slices, Config)]. Returns the stacked parameters after `steps` steps of
    Sliced, and each part's parameters trained alone by its own optimizer."""
    from core.optim import make_optimizer, make_sliced_optimizer
    g = torch.Generator().manual_seed(0)
    n = sum(k for k, _ in parts)
    stacked = [torch.randn(n, *s, generator=g).requires_grad_(True) for s in SLICE_SHAPES]
    alone = []
    lo = 0
    spans = []
    for k, cfg in parts:
        ps = [p.detach()[lo:lo + k].clone().requires_grad_(True) for p in stacked]
        alone.append((ps, make_optimizer(cfg, ps)))
        spans.append((lo, lo + k, cfg))
        lo += k
    opt = make_sliced_optimizer(spans, stacked)
    for _ in range(steps):
        grads = [(2 * p.detach() + torch.randn(p.shape, generator=g)).contiguous() for p in stacked]
        for p, gr in zip(stacked, grads, strict=True):
            p.grad = gr
        opt.step()
        for (ps, o), (a, b, _) in zip(alone, spans, strict=True):
            for p, gr in zip(ps, grads, strict=True):
                p.grad = gr[a:b].clone()
            o.step()
    return stacked, alone, spans, opt


def test_each_variants_slices_are_updated_bit_for_bit_as_alone():
    from core.config import validate
    parts = [(3, validate(lr=0.01)), (2, validate(lr=0.01)), (3, validate(lr=0.01, weight_decay=0.1)),
             (1, validate(optimizer="momentum", lr=0.05)), (2, validate(optimizer="sgd", lr=0.1))]
    stacked, alone, spans, opt = _sliced_run(parts)
    # one call for the first two (same settings), one per other variant
    assert len(opt.calls) == 4
    assert [(j, lo, hi) for j, lo, hi in opt.calls[0][1]] == [(0, 0, 5), (1, 0, 3), (1, 3, 5)]
    for (ps, _), (lo, hi, _) in zip(alone, spans, strict=True):
        for a, b in zip(ps, stacked, strict=True):
            assert torch.equal(a, b[lo:hi])


def test_one_variant_is_the_plain_optimizer():
    from core.config import validate
    from core.optim import make_sliced_optimizer
    p = torch.zeros(3, 4, requires_grad=True)
    assert isinstance(make_sliced_optimizer([(0, 3, validate())], [p]), Adam)


def test_zeroing_a_slice_zeroes_its_state_only():
    from core.config import validate
    parts = [(2, validate(optimizer="momentum", lr=0.05)), (3, validate(lr=0.01))]
    stacked, _, _, opt = _sliced_run(parts, steps=3)
    opt.zero_slice(3)  # the second slice of the Adam variant
    for o, spans in opt.calls:
        for v, (_, lo, hi) in zip(o.params, spans, strict=True):
            for t in o.state[v].values():
                if t.dim() > 0:
                    for i in range(lo, hi):
                        assert (t[i - lo].abs().sum() == 0) == (i == 3)


def test_sliced_with_the_fallback_gives_the_same_numbers(monkeypatch, fresh_warnings):
    from core.config import validate
    parts = [(2, validate(lr=0.01)), (2, validate(lr=0.03))]
    fast, _, _, _ = _sliced_run(parts)
    monkeypatch.setattr(optim, "FUSED_ADAM", None)
    with pytest.warns(RuntimeWarning, match="_fused_adam_"):
        slow, _, _, opt = _sliced_run(parts)
    assert all(o._stock is not None for o, _ in opt.calls)
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)
