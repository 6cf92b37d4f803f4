"""core.optim.Adam and SGD against torch.optim, the independent answer."""
import pytest
import torch

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
