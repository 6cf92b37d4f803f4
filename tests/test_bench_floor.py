"""bench/floor.py: the multiply-adds a run cannot avoid, checked against PyTorch's own FLOP counter
on the plain network a user would write, and the verdicts the benchmarks print from them."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.floor import floor_seconds, matmul_rate, network_macs, verdict, workload_macs
from core.config import validate
from core.cost import probe_rows, split


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("depth,width", [(1, 8), (2, 16), (3, 5)])
def test_network_macs_equal_torch_flop_counter_of_the_plain_loop(depth, width):
    """Training (forward, backward with the data not requiring gradients, so autograd skips the
    first layer's input gradient as the floor does) over every training example, plus the
    measurement's forwards over every example and twice the probe, each epoch and at epoch 0."""
    cfg = validate(dict(dataset="digits", n_samples=300, model="mlp", depth=depth, width=width,
                        epochs=3, seeds=1, val_fraction=0.25))
    n_train, n_val = split(cfg)
    sizes = [64, *[width] * depth, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < depth else [])
    net = nn.Sequential(*layers)
    x, y = torch.randn(n_train, 64), torch.randint(0, 10, (n_train,))

    def train():
        F.cross_entropy(net(x), y).backward()

    def measure():
        with torch.no_grad():
            net(torch.randn(n_train + n_val + 2 * probe_rows(cfg, n_train), 64))

    expected = cfg.epochs * (_flops(train) + _flops(measure)) + _flops(measure)
    assert 2 * network_macs(cfg) == expected


def test_workload_counts_every_seed_of_every_variant():
    a = validate(dict(dataset="moons", n_samples=200, width=8, epochs=2, seeds=3))
    b = validate(dict(dataset="moons", n_samples=200, width=8, epochs=2, seeds=1, dropout=0.5))
    assert workload_macs([a, b]) == 4 * network_macs(b)
    assert floor_seconds([a, b], rate=network_macs(b)) == pytest.approx(4.0)


def test_cnn_is_refused_by_name():
    with pytest.raises(ValueError, match="model 'cnn'"):
        network_macs(validate(dict(dataset="digits", model="cnn", width=4, epochs=1, seeds=1)))


def test_verdict_says_below_the_floor_or_the_efficiency_needed():
    assert "below the floor of 20 s: out of reach" in verdict("W2 10x", 14.0, 20.0)
    line = verdict("W2 2x", 25.0, 20.0)
    assert "above the floor of 20 s" in line and "80% of the best matmul rate" in line


def test_matmul_rate_is_positive_and_gives_back_the_thread_count():
    before = torch.get_num_threads()
    rate = matmul_rate(reps=1, n=128)
    assert torch.get_num_threads() == before
    assert rate["one_core"] > 0 and rate["all_cores"] > 0
    assert rate["best"] == max(rate["one_core"] * rate["cores"], rate["all_cores"])
