"""The batched network: hand-written gradients against autograd (to 1e-6), seed independence, and
variants as slices drawing and starting as they do alone."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.config import validate
from core.models import MEASURE, TRAIN, BatchedNet, SeedStreams
from core.registry import ACTIVATIONS


def autograd_grads(net, x, y, streams, weight=None):
    for p in net.params:
        p.grad = None
    logits, _ = net.forward(x, train=True, streams=streams)
    per_seed = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(net.S, -1).mean(1)
    loss = (per_seed if weight is None else per_seed * weight).sum()
    loss.backward()
    return [p.grad.clone() for p in net.params]


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_hand_written_backward_matches_autograd(activation, dropout):
    cfg = validate(depth=3, width=16, activation=activation, dropout=dropout, seeds=3, n_samples=100,
                   batch_size=20, init="he")
    net = BatchedNet(cfg, n_in=2, n_classes=3)
    x = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (3, 20), generator=torch.Generator().manual_seed(2))
    ref = autograd_grads(net, x, y, SeedStreams(cfg.seed_list, TRAIN))
    net.set_grads(x, y, SeedStreams(cfg.seed_list, TRAIN))  # same stream state -> same dropout masks
    for r, p in zip(ref, net.params, strict=True):
        torch.testing.assert_close(p.grad, r, atol=1e-6, rtol=1e-5)


def test_a_zero_weight_retires_a_seed_exactly():
    cfg = validate(depth=2, width=8, seeds=3, n_samples=100, batch_size=10)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    x, y = torch.randn(3, 10, 2), torch.randint(0, 2, (3, 10))
    w = torch.tensor([1.0, 0.0, 1.0])
    ref = autograd_grads(net, x, y, SeedStreams(cfg.seed_list, TRAIN), w)
    net.set_grads(x, y, SeedStreams(cfg.seed_list, TRAIN), w)
    for r, p in zip(ref, net.params, strict=True):
        torch.testing.assert_close(p.grad, r, atol=1e-6, rtol=1e-5)
        assert torch.count_nonzero(p.grad[1]) == 0


def test_seed_slices_do_not_depend_on_the_other_seeds():
    a = BatchedNet(validate(seeds=1, seed=4), 2, 2)
    b = BatchedNet(validate(seeds=5, seed=0), 2, 2)
    for pa, pb in zip(a.params, b.params, strict=True):
        assert torch.equal(pa[0], pb[4])


def test_default_init_matches_pytorch_bounds():
    cfg = validate(width=1000, depth=1, seeds=1)
    net = BatchedNet(cfg, 2, 2)
    w, b = net.params[0], net.params[1]
    bound = 1 / 2 ** 0.5  # nn.Linear(2, ...): uniform(+-1/sqrt(fan_in))
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound and b.abs().max() <= bound


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.95])
def test_dropout_masks_drop_with_probability_p_and_scale_survivors(p):
    s = SeedStreams([0, 1], TRAIN)
    keep = s.keep_mask(p, 500, 400)
    assert keep.shape == (2, 500, 400)
    dropped = (keep == 0).float().mean().item()
    assert abs(dropped - p) < 0.005  # 400,000 draws: 4 standard errors at worst
    assert torch.allclose(keep[keep > 0], torch.tensor(1 / (1 - p)))
    # the two seeds draw different masks; the same seed draws the same masks again
    assert not torch.equal(keep[0], keep[1])
    assert torch.equal(SeedStreams([0], TRAIN).keep_mask(p, 500, 400)[0], keep[0])


@pytest.mark.parametrize("group_elements", [1, 3 * 64 * 2 * 5 * 7, 2**20])
def test_masks_drawn_for_an_epoch_at_once_are_the_masks_drawn_step_by_step(monkeypatch, group_elements):
    # Training draws an epoch's dropout masks a few batches at a time; every seed must see the
    # same bits, batch by batch, as drawing per step, whatever the grouping and a short last batch.
    import core.models as M
    monkeypatch.setattr(M, "MASK_DRAW_ELEMENTS", group_elements)
    cfg = validate(dataset="moons", depth=3, width=7, dropout=0.3, seeds=5)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    # 13: a short batch, whose 3 * 7 * 13 units are not a whole number of 64-bit words
    sizes = [64] * 3 + [13, 64, 64, 13]
    one_by_one, grouped = SeedStreams(cfg.seed_list, TRAIN), SeedStreams(cfg.seed_list, TRAIN)
    expected = [one_by_one.keep_mask(0.3, 3, b, 7, 1) for b in sizes]
    got = list(net.dropout_masks(grouped, sizes))
    assert len(got) == len(sizes)
    for e, g in zip(expected, got, strict=True):
        assert torch.equal(e, g)
    # both streams are at the same place afterwards: the next draw agrees too
    assert torch.equal(one_by_one.keep_mask(0.3, 10), grouped.keep_mask(0.3, 10))


def test_a_part_of_a_stack_reuses_the_stacks_buffers():
    # Passes over fewer snapshots (head) write into the front of the full stack's scratch
    # buffers instead of allocating their own: no fresh tensors, whatever the pass size.
    cfg = validate(dataset="moons", depth=2, width=8, seeds=3)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    stack = net.stacked(4)
    full = stack._scratch(("z", 0), (12, 50, 8))
    part = stack.head(6)._scratch(("z", 0), (6, 50, 8))
    assert part.shape == (6, 50, 8) and part.data_ptr() == full.data_ptr()
    again = stack._scratch(("z", 0), (12, 50, 8))
    assert again.data_ptr() == full.data_ptr()


def test_relu_backward_without_threshold_backward_is_the_same(monkeypatch):
    from core import fallback, models
    monkeypatch.setattr(fallback, "_warned", set())
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 50, 16, generator=g).round(decimals=1)  # many exact zeros
    z[0, 0, :4] = torch.tensor([0.0, -0.0, float("inf"), -float("inf")])
    grad = torch.randn(3, 50, 16, generator=g)
    grad[1, 1, :2] = float("nan")
    fast = models.relu_backward(grad, z)
    # independent answer: autograd through torch.relu
    zz = z.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(torch.relu(zz), zz, grad)
    assert torch.equal(fast.nan_to_num(), ref.nan_to_num()) and torch.equal(fast.isnan(), ref.isnan())
    monkeypatch.setattr(models, "THRESHOLD_BACKWARD", None)
    with pytest.warns(RuntimeWarning, match="threshold_backward") as seen:
        slow = models.relu_backward(grad, z)
        models.relu_backward(grad, z)
    assert len(seen) == 1
    assert torch.equal(slow.nan_to_num(), fast.nan_to_num()) and torch.equal(slow.isnan(), fast.isnan())


def test_set_grads_with_the_fallback_gives_the_same_gradients(monkeypatch):
    from core import fallback, models
    monkeypatch.setattr(fallback, "_warned", set())
    cfg = validate(depth=3, width=16, dropout=0.4, seeds=3, n_samples=100, batch_size=20)
    net = BatchedNet(cfg, n_in=2, n_classes=3)
    x = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (3, 20), generator=torch.Generator().manual_seed(2))
    net.set_grads(x, y, SeedStreams(cfg.seed_list, TRAIN))
    fast = [p.grad.clone() for p in net.params]
    monkeypatch.setattr(models, "THRESHOLD_BACKWARD", None)
    with pytest.warns(RuntimeWarning, match="threshold_backward"):
        net.set_grads(x, y, SeedStreams(cfg.seed_list, TRAIN))
    for a, p in zip(fast, net.params, strict=True):
        assert torch.equal(a, p.grad)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_cnn_dropout_keeps_inverted_dropouts_promise_layer_by_layer(p):
    # Inverted dropout promises that a layer's train-mode output equals its eval-mode output on
    # average over masks. Layer by layer, with only that layer's mask drawn (the others all
    # kept), over 300 masks: what each layer hands on (to the next convolution, or, from the
    # last layer, the 2x2 max-pooled features the output layer reads) must average to eval mode
    # within 2%. Dropout applied pixel by pixel before the pooling breaks it (about 2x).
    from core.data import make_dataset

    cfg = validate(dataset="digits", model="cnn", depth=3, width=6, dropout=p, seeds=2, n_samples=100,
                   batch_size=20, init="he")
    net = BatchedNet(cfg, 64, 10)
    x = make_dataset(cfg).x_train[:16]
    masks = 300
    xs = x.unsqueeze(0).expand(cfg.seeds, *x.shape)

    def handed_on(layers, i):  # (S, inputs, channels, 64) -> what leaves layer i
        d = layers[i].d
        if i < cfg.depth - 1:
            return d
        S, B, H, _ = d.shape
        return F.max_pool2d(d.reshape(S * B, H, 8, 8), 2)

    with torch.no_grad():
        _, ev = net.forward(xs, train=False, record=True)
        keep_all = next(net.dropout_masks(SeedStreams(cfg.seed_list, TRAIN), [len(x) * masks]))
        for i in range(cfg.depth):
            keep = torch.ones_like(keep_all)
            keep[:, i] = keep_all[:, i]
            _, tr = net.forward(xs.repeat(1, masks, 1, 1, 1), train=True, keep=keep, record=True)
            want = handed_on(ev, i).mean().item()
            got = handed_on(tr, i).mean().item()
            assert want > 0.05  # not a comparison of zeros
            assert got == pytest.approx(want, rel=0.02), (i, got / want)


# --- variants as slices (core.slices) -----------------------------------------------------------

def test_slices_that_draw_alike_share_a_stream_and_each_draws_what_it_draws_alone():
    # seeds 0, 1 with dropout 0.5 and 0.2 (their streams make the same draws: one stream each
    # seed), seed 0 without dropout (a stream of its own, which never draws masks)
    seeds, ps = [0, 1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2, 0.0]
    shared = SeedStreams(seeds, TRAIN, [p > 0 for p in ps])
    assert len(shared.rngs) == 3 and shared.S == 5
    alone = [SeedStreams([s], TRAIN) for s in seeds]
    for _ in range(2):
        perm = shared.permutations(50)
        for j, a in enumerate(alone):
            assert torch.equal(perm[j], a.permutations(50)[0])
        keep = shared.keep_mask(np.array(ps), 3, 20, 7)
        for j, (a, p) in enumerate(zip(alone, ps, strict=True)):
            want = a.keep_mask(p, 3, 20, 7)[0] if p > 0 else torch.ones(3, 20, 7)
            assert torch.equal(keep[j], want), j


def test_per_slice_masks_of_a_stack_repeat_the_pattern_snapshot_by_snapshot():
    seeds, ps = [0, 1, 0], [0.5, 0.5, 0.0]
    one_by_one = SeedStreams(seeds, MEASURE, [p > 0 for p in ps])
    stacked = SeedStreams(seeds, MEASURE, [p > 0 for p in ps]).repeated(2)
    got = stacked.keep_mask(np.array(ps), 4, 9)
    want = torch.cat([one_by_one.keep_mask(np.array(ps), 4, 9) for _ in range(2)])
    assert got.shape == (6, 4, 9) and torch.equal(got, want)


def test_each_slice_is_initialized_as_its_variant_alone():
    from core.slices import Slices
    cfgs = [validate(seeds=2, seed=3, init="he"), validate(seeds=1, seed=0), validate(seeds=2, init="xavier")]
    slices = Slices.of(cfgs)
    net = BatchedNet(validate(seeds=5), 2, 2, slices=slices)
    j = 0
    for c in cfgs:
        alone = BatchedNet(c, 2, 2)
        for pa, pg in zip(alone.params, net.params, strict=True):
            assert torch.equal(pa, pg[j:j + c.seeds])
        j += c.seeds


def test_slices_with_dropout_need_a_shape_config_that_says_so():
    from core.slices import Slices
    slices = Slices.of([validate(seeds=1), validate(seeds=1, dropout=0.5)])
    with pytest.raises(ValueError, match="dropout"):
        BatchedNet(validate(seeds=2), 2, 2, slices=slices)


@pytest.mark.parametrize("names", [["relu", "linear", "tanh"], ["linear", "relu"], ["gelu", "relu", "sigmoid"]])
def test_hand_written_backward_of_mixed_activations_matches_autograd(names):
    from core.slices import Slices
    cfgs = [validate(depth=3, width=16, activation=a, dropout=0.3 * (i % 2), seeds=2, seed=i, n_samples=100,
                     batch_size=20, init="he") for i, a in enumerate(names)]
    slices = Slices.of(cfgs)
    net = BatchedNet(validate(depth=3, width=16, dropout=0.3, seeds=2 * len(names)), 2, 3, slices=slices)
    S = net.S
    x = torch.randn(S, 20, 2, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (S, 20), generator=torch.Generator().manual_seed(2))
    ref = autograd_grads(net, x, y, SeedStreams(list(slices.seeds), TRAIN, slices.draws))
    net.set_grads(x, y, SeedStreams(list(slices.seeds), TRAIN, slices.draws))
    for r, p in zip(ref, net.params, strict=True):
        torch.testing.assert_close(p.grad, r, atol=1e-6, rtol=1e-5)


def test_a_part_of_the_slices_draws_from_its_own_streams_only():
    seeds, draws, acts = [0, 1, 0, 1], [True, True, True, True], ["relu", "relu", "tanh", "tanh"]
    shared = SeedStreams(seeds, MEASURE, draws)
    with pytest.raises(ValueError, match="share a stream"):
        shared.rows(0, 2)  # seeds 0, 1 share their streams with slices 2, 3
    apart = SeedStreams(seeds, MEASURE, draws, apart=acts)
    part = apart.rows(2, 4).repeated(2)
    alone = SeedStreams([0, 1], MEASURE).repeated(2)
    assert part.S == 4 and torch.equal(part.keep_mask(0.4, 5, 3), alone.keep_mask(0.4, 5, 3))


def test_rows_of_a_stack_are_those_slices_of_every_snapshot():
    from core.slices import Slices
    cfgs = [validate(seeds=2, activation="relu"), validate(seeds=1, activation="tanh", dropout=0.5)]
    net = BatchedNet(validate(seeds=3, dropout=0.5), 2, 2, slices=Slices.of(cfgs))
    stack = net.stacked(2)
    stack.put(0, net)
    stack.put(1, net)
    part = stack.rows(2, 3)
    assert part.S == 2 and part.act is ACTIVATIONS["tanh"] and part.drops and part.p == 0.5
    for p, q in zip(part.params, net.params, strict=True):
        assert torch.equal(p, torch.cat([q[2:3], q[2:3]]))
    relu = stack.rows(0, 2)
    assert relu.act is ACTIVATIONS["relu"] and not relu.drops and relu.cfg.dropout == 0
