"""Metrics against values worked out by hand on hand-set weights."""
import math

import pytest
import torch

from core.config import validate
from core.metrics import measure
from core.models import MEASURE, BatchedNet, SeedStreams

X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # 3 training inputs
Y = torch.tensor([0, 1, 1])
XV = torch.tensor([[0.5, 0.5]])
YV = torch.tensor([0])


def hand_net(activation="relu", dropout=0.0, seeds=1):
    """One hidden layer of 3 units, 2 classes. Unit 0: z = x1 (1, 0, -1 on X).
    Unit 1: z = -1 always (dead for ReLU). Unit 2: z = x2 + 0.5 (0.5, 1.5, 0.5).
    Output: zero weights, biases (0, ln 3): p = (1/4, 3/4) for every input."""
    cfg = validate(depth=1, width=3, activation=activation, dropout=dropout, seeds=seeds, n_samples=100,
                   batch_size=3)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    with torch.no_grad():
        w, b, wo, bo = net.params
        w.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).expand_as(w))
        b.copy_(torch.tensor([[0.0, -1.0, 0.5]]).expand_as(b))
        wo.zero_()
        bo.copy_(torch.tensor([[0.0], [math.log(3.0)]]).expand_as(bo))  # output layer is (classes, inputs)
    return net


def run(net, prev=None):
    return measure(net, X, Y, XV, YV, SeedStreams(net.cfg.seed_list, MEASURE), prev)


def test_losses_accuracies_and_gaps_by_hand():
    m, _ = run(hand_net())
    train_loss = (math.log(4) + 2 * math.log(4 / 3)) / 3
    assert m["train_loss"].item() == pytest.approx(train_loss, abs=1e-6)
    assert m["val_loss"].item() == pytest.approx(math.log(4), abs=1e-6)
    assert m["train_acc"].item() == pytest.approx(2 / 3)
    assert m["val_acc"].item() == 0.0
    assert m["gap_loss"].item() == pytest.approx(math.log(4) - train_loss, abs=1e-6)
    assert m["gap_acc"].item() == pytest.approx(2 / 3)


def test_relu_dead_negative_zero_fraction_by_hand():
    m, on = run(hand_net("relu"))
    assert m["dead"].tolist() == [[1.0]]       # unit 1
    assert m["negative"].tolist() == [[1.0]]   # = dead for ReLU
    assert m["saturated"].tolist() == [[1.0]]  # derivative 0 wherever z <= 0
    # zeros: unit 0 at z = 0 and z = -1, unit 1 everywhere, unit 2 never -> 5 of 9
    assert m["zero_frac"].item() == pytest.approx(5 / 9)
    assert m["act_zero_frac_train"].item() == pytest.approx(5 / 9)  # no dropout, no batch norm
    assert m["dropout_zero_frac_train"].item() == 0.0
    assert m["mask_agreement"].item() == 1.0
    assert torch.isnan(m["mask_flip"]).all()   # nothing to compare with at the first measurement
    assert torch.isnan(m["revived"]).all()
    assert m["on_frac_train"].item() == pytest.approx(4 / 9)  # the 4 non-zero outputs
    assert on.on[0][0, :, :, 0].tolist() == [[True, False, True], [False, False, True], [False, False, True]]
    assert on.dead[0].tolist() == [[False, True, False]]


def test_leaky_relu_keeps_negative_units_alive():
    m, _ = run(hand_net("leaky_relu"))
    assert m["dead"].item() == 0.0
    assert m["negative"].item() == 1.0
    assert m["saturated"].item() == 0.0        # slope 0.01 is not below 1% of 1
    assert m["zero_frac"].item() == pytest.approx(1 / 9)  # only leaky(0) = 0, unit 0 on input 2


def test_tanh_saturation_by_hand():
    net = hand_net("tanh")
    with torch.no_grad():
        net.params[1][0, 0, 1] = 20.0          # unit 1: z = 20 on every input, tanh' ~ 4e-17
    m, _ = run(net)
    assert m["saturated"].item() == 1.0
    assert m["negative"].item() == 0.0
    assert m["dead"].item() == 0.0
    # In training, only tanh(0) is zero (unit 0 on input 2): negative outputs are not zeros.
    assert m["act_zero_frac_train"].item() == pytest.approx(1 / 9)
    assert m["dropout_zero_frac_train"].item() == 0.0
    assert m["mask_agreement"].item() == 1.0
    # tanh's "on" is its sign: unit 0 is on for x1 = 1 only, units 1 (z = 20) and 2 always.
    assert m["on_frac_train"].item() == pytest.approx(7 / 9)


def test_mask_flip_counts_changed_states():
    net = hand_net("relu")
    _, on = run(net)
    with torch.no_grad():
        net.params[1][0, 0, 1] = 1.0           # unit 1 turns on for all 3 inputs
    m, _ = run(net, on)
    assert m["mask_flip"].item() == pytest.approx(3 / 9)
    assert m["dead"].item() == 0.0


def test_revived_counts_units_dead_before_and_alive_now_by_hand():
    # Epoch 0: unit 1 dead (z = -1). Epoch 1: its bias moves to +1 (alive: revived) while unit 2's
    # moves to -2 (z = x2 - 2 < 0 on every input: dead). Epoch 2: nothing moves: unit 2 stays
    # dead, which is no revival. Epoch 3: unit 2 comes back and unit 0 dies.
    net = hand_net("relu")
    m0, prev = run(net)
    assert m0["dead"].item() == 1.0 and torch.isnan(m0["revived"]).all()
    b = net.params[1]
    with torch.no_grad():
        b[0, 0, 1], b[0, 0, 2] = 1.0, -2.0
    m1, prev = run(net, prev)
    assert (m1["dead"].item(), m1["revived"].item()) == (1.0, 1.0)
    m2, prev = run(net, prev)
    assert (m2["dead"].item(), m2["revived"].item()) == (1.0, 0.0)
    with torch.no_grad():
        b[0, 0, 0], b[0, 0, 2] = -5.0, 0.5
    m3, _ = run(net, prev)
    assert (m3["dead"].item(), m3["revived"].item()) == (1.0, 1.0)


def test_revived_in_a_real_run_equals_dead_sets_worked_out_from_the_weights(monkeypatch):
    # A run at a high learning rate whose units die and come back in every layer. Its weights
    # are kept at every epoch; the dead sets are worked out from them with plain matrix products
    # over every training input, and `revived` must count exactly the units dead at one epoch and
    # alive at the next.
    import numpy as np

    import core.recorder as R
    from core.data import make_dataset
    from core.train import train

    cfg = validate(dataset="moons", width=16, depth=3, lr=0.1, n_samples=200, epochs=8, seeds=2, batch_size=16)
    weights = []
    record = R.Recorder.record

    def keep_weights(self, epoch, net):
        weights.append([p.detach().clone() for p in net.params])
        record(self, epoch, net)

    monkeypatch.setattr(R.Recorder, "record", keep_weights)
    r = train(cfg, measure=R.MeasurePolicy(overlap=False))
    x = make_dataset(cfg).x_train
    dead = []  # per epoch: (seeds, layers, units) bool
    for ps in weights:
        per_seed = []
        for s in range(cfg.seeds):
            h, layers = x, []
            for k in range(cfg.depth):
                h = torch.relu(h @ ps[2 * k][s] + ps[2 * k + 1][s])
                layers.append((h == 0).all(0))
            per_seed.append(torch.stack(layers))
        dead.append(torch.stack(per_seed).numpy())
    dead = np.array(dead)                                       # (epochs + 1, seeds, layers, units)
    want = (dead[:-1] & ~dead[1:]).sum(-1).transpose(1, 0, 2)   # (seeds, epochs, layers)
    np.testing.assert_array_equal(r.metrics["dead"], dead.sum(-1).transpose(1, 0, 2))
    np.testing.assert_array_equal(r.metrics["revived"][:, 1:], want)
    assert np.isnan(r.metrics["revived"][:, 0]).all()
    assert (want.sum((0, 1)) > 0).all(), want  # units came back in every layer


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dropout_agreement_is_p2_plus_1_minus_p2_on_active_units(p, activation):
    # A wide layer whose units are all on: agreement between two passes is p^2 + (1-p)^2,
    # and dropout's extra zeros are a fraction p of the outputs.
    cfg = validate(depth=1, width=512, dropout=p, n_samples=500, batch_size=32, seeds=2, activation=activation)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    with torch.no_grad():
        net.params[0].zero_()
        net.params[1].fill_(1.0)
    x = torch.randn(300, 2)
    y = torch.zeros(300, dtype=torch.long)
    m, _ = measure(net, x, y, x[:10], y[:10], SeedStreams(cfg.seed_list, MEASURE), None)
    assert m["act_zero_frac_train"].max().item() == 0.0
    assert m["mask_agreement"] == pytest.approx(torch.full((2, 1), p * p + (1 - p) ** 2), abs=0.01)
    assert m["dropout_zero_frac_train"] == pytest.approx(torch.full((2, 1), p), abs=0.01)
    assert m["zero_frac"].max().item() == 0.0  # eval mode: dropout is off


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("activation", ["relu", "tanh", "linear"])
def test_first_layer_agreement_is_one_minus_2p_1_minus_p_times_the_on_fraction(p, activation):
    # In the first hidden layer the on/off state before dropout is the same in both passes: an
    # off unit always agrees, an on unit disagrees when exactly one pass drops it (2p(1-p)). So
    # the disagreements are a binomial draw over the a * n on-cells of the probe (a =
    # on_frac_train, n = probe x width), and the measured agreement must be within 4 standard
    # errors of 1 - 2p(1-p) * a. Deeper, upstream dropout also flips the states before dropout:
    # with b = P(on in both passes) <= a, agreement = 1 - 2a(1-p) + 2b(1-p)^2, at most the
    # layer's own 1 - 2p(1-p) * a, with equality only if nothing upstream flips it. (Not "at most
    # layer 1's expectation": a deeper layer with fewer units on can agree more.)
    from core.data import make_dataset
    from core.metrics import expected_agreement

    cfg = validate(dataset="moons", n_samples=1000, depth=3, width=256, dropout=p, activation=activation, seeds=2)
    data = make_dataset(cfg)
    net = BatchedNet(cfg, data.n_features, data.n_classes)
    m, _ = measure(net, data.x_train, data.y_train, data.x_val, data.y_val, SeedStreams(cfg.seed_list, MEASURE), None)
    a, agree = m["on_frac_train"].double(), m["mask_agreement"].double()
    n = 256 * cfg.width  # probe rows x units
    q = 2 * p * (1 - p)
    se = torch.sqrt(a * n * q * (1 - q)) / n
    bound = expected_agreement(p, a)
    assert ((0.3 < a) & (a < 0.7)).all()  # about half the cells on: the test has something to count
    assert ((agree[:, 0] - bound[:, 0]).abs() <= 4 * se[:, 0]).all(), (agree[:, 0], bound[:, 0], se[:, 0])
    assert (agree[:, 1:] < bound[:, 1:] - 4 * se[:, 1:]).all(), (agree, bound)  # upstream flips: clearly lower


def test_sigmoid_has_no_mask_figures_it_is_never_off():
    from core.registry import ACTIVATIONS, mask_note

    net = hand_net("sigmoid", dropout=0.5)
    m, prev = run(net)
    m, _ = run(net, prev)
    for k in ("mask_flip", "mask_agreement", "on_frac_train"):
        assert torch.isnan(m[k]).all(), k
    assert m["dropout_zero_frac_train"].item() > 0 and m["revived"].item() == 0.0  # the rest is measured
    assert ACTIVATIONS["sigmoid"].mask is None and mask_note("sigmoid") == \
        "sigmoid is never off (every output is > 0)"
    assert all(mask_note(a) is None for a in ACTIVATIONS if a != "sigmoid")


def test_cross_entropy_and_hits_match_torch_including_ties():
    # Integer logits make ties common (a dead ReLU net with zero biases gives all-zero logits):
    # a hit must be exactly argmax == y, which takes the first of tied classes.
    import torch.nn.functional as F

    from core.metrics import _ce_hit
    g = torch.Generator().manual_seed(0)
    for C in (2, 3, 10):
        logits = torch.randint(-2, 3, (4, 500, C), generator=g).float()   # (S, R, C)
        y = torch.randint(0, C, (500,), generator=g)
        ce, hit = _ce_hit(logits.transpose(1, 2).contiguous(), y)
        assert torch.equal(hit, logits.argmax(-1) == y)
        expected = F.cross_entropy(logits.flatten(0, 1), y.repeat(4), reduction="none").view(4, -1)
        assert torch.allclose(ce, expected, atol=1e-6)
    nan = torch.tensor([[[float("nan"), 1.0], [0.0, float("nan")], [2.0, 1.0]]]).transpose(1, 2).contiguous()
    _, hit = _ce_hit(nan, torch.tensor([1, 0, 0]))
    assert hit.tolist() == [[False, False, True]]  # a NaN anywhere in the row is a miss


@pytest.mark.parametrize("settings", [
    dict(dataset="digits", model="cnn", width=6, depth=2, dropout=0.3, n_samples=300),
    dict(dataset="moons", width=32, depth=3, dropout=0.3, batchnorm=True),
    dict(dataset="moons", width=32, depth=3, dropout=0.3, activation="tanh"),
    dict(dataset="moons", width=32, depth=2, dropout=0.4),
])
def test_train_mode_fractions_equal_counting_the_recorded_passes(settings):
    # train_mode_zeros reduces each layer as it is computed; counting the same two passes kept
    # whole (train_mode_passes, same stream) must give the same fractions, CNN pixels included.
    from core.data import make_dataset
    from core.metrics import train_mode_passes, train_mode_zeros
    cfg = validate(**settings, seeds=3)
    data = make_dataset(cfg)
    net = BatchedNet(cfg, data.n_features, data.n_classes)
    x = data.x_train[:100]
    got = train_mode_zeros(net, x, SeedStreams(cfg.seed_list, MEASURE))
    r1, r2 = train_mode_passes(net, x, SeedStreams(cfg.seed_list, MEASURE))
    n = r1[0].a[0].numel()

    def nnz(t):
        return (t != 0).flatten(1).sum(1).double()

    want = {
        "act_zero_frac_train": torch.stack([1 - nnz(r.a) / n for r in r1], 1),
        "dropout_zero_frac_train": torch.stack([(nnz(r.a) - nnz(r.d)) / n for r in r1], 1),
        "mask_agreement": torch.stack([1 - ((a.d > 0) != (b.d > 0)).flatten(1).sum(1).double() / n
                                       for a, b in zip(r1, r2, strict=True)], 1),
    }
    for k, v in want.items():
        assert torch.allclose(got[k].double(), v, atol=1e-6), k
    assert 0 < got["dropout_zero_frac_train"].mean() < 1


def test_scratch_for_fewer_seeds_is_the_front_of_the_larger_buffer():
    from core.metrics import _tmp
    big = _tmp(5, torch.empty(12, 7, 3))
    small = _tmp(5, torch.empty(4, 7, 3))
    assert small.shape == (4, 7, 3) and small.data_ptr() == big.data_ptr()
    assert _tmp(5, torch.empty(12, 7, 3)).data_ptr() == big.data_ptr()


@pytest.mark.parametrize("snapshots", [1, 3])
def test_a_network_of_several_activations_measures_each_slice_as_alone(snapshots):
    # Variants as slices (core.slices): each activation's slices are measured as a network of
    # their own, with their own streams; every figure equals its variant measured alone.
    from core.data import make_dataset
    from core.slices import Slices
    cfgs = [validate(n_samples=120, width=16, activation=a, dropout=p, seeds=2, seed=s)
            for a, p, s in (("relu", 0.5, 0), ("relu", 0.0, 0), ("tanh", 0.3, 1), ("linear", 0.0, 0))]
    d = make_dataset(cfgs[0])
    slices = Slices.of(cfgs)
    group = BatchedNet(validate(n_samples=120, width=16, dropout=0.5, seeds=8), 2, 2, slices=slices)
    alone = [BatchedNet(c, 2, 2) for c in cfgs]
    streams = SeedStreams(list(slices.seeds), MEASURE, slices.draws, apart=list(slices.activations))
    solo = [SeedStreams(c.seed_list, MEASURE) for c in cfgs]
    if snapshots > 1:
        def stack(net):
            s = net.stacked(snapshots)
            for j in range(snapshots):
                s.put(j, net)
            return s
        group, alone = stack(group), [stack(n) for n in alone]
        streams, solo = streams.repeated(snapshots), [s.repeated(snapshots) for s in solo]
    prev, prev_alone = None, [None] * len(cfgs)
    for _ in range(2):  # the second pass compares on-states with the first (mask_flip)
        got, prev = measure(group, d.x_train, d.y_train, d.x_val, d.y_val, streams, prev, snapshots=snapshots)
        for v, (net, st) in enumerate(zip(alone, solo, strict=True)):
            want, prev_alone[v] = measure(net, d.x_train, d.y_train, d.x_val, d.y_val, st, prev_alone[v],
                                          snapshots=snapshots)
            for name, w in want.items():
                g = got[name].unflatten(0, (snapshots, 8))[:, 2 * v: 2 * v + 2].flatten(0, 1)
                assert torch.equal(g.nan_to_num(-1), w.nan_to_num(-1)), (name, v)
            for field_g, field_a in zip(prev, prev_alone[v], strict=True):  # on-states, dead units
                for a, b in zip(field_g, field_a, strict=True):
                    assert torch.equal(a[2 * v: 2 * v + 2], b)
