"""The plain PyTorch baseline (bench/baseline.py) measures what the lab measures."""
from __future__ import annotations

import pytest
import torch

from bench.baseline import build_mlp, measure_epoch, set_weights, train_plain
from core.config import validate
from core.data import make_dataset
from core.results import METRICS

SMALL = dict(dataset="moons", n_samples=200, depth=2, width=16, activation="relu",
             optimizer="adam", lr=0.01, batch_size=32, epochs=3, seeds=2)


def test_records_and_relu_identities():
    cfg = validate({**SMALL, "dropout": 0.5})
    out = train_plain(cfg)
    hist = out["history"]
    assert len(hist) == cfg.seeds * (cfg.epochs + 1)
    assert [(r["seed"], r["epoch"]) for r in hist] == [(s, e) for s in cfg.seed_list for e in range(4)]
    assert out["seconds"] > 0
    assert out["final_val_acc"] == [r["val_acc"] for r in hist if r["epoch"] == cfg.epochs]
    for r in hist:
        assert set(r) == {"seed", "epoch", *METRICS}
        for m in ("dead", "negative", "saturated", "zero_frac", "act_zero_frac_train",
                  "dropout_zero_frac_train", "mask_flip", "mask_agreement"):
            assert len(r[m]) == cfg.depth
        # ReLU: output is exactly 0 where the pre-activation is <= 0, and so is the derivative.
        assert r["dead"] == r["negative"] == r["saturated"]
        assert r["gap_loss"] == pytest.approx(r["val_loss"] - r["train_loss"])
        assert all(a < 1.0 for a in r["mask_agreement"])  # dropout 0.5 draws different masks
        assert all(d > 0 for d in r["dropout_zero_frac_train"])
        if r["epoch"] == 0:
            assert r["mask_flip"] == [None] * cfg.depth
        else:
            assert all(0.0 <= f <= 1.0 for f in r["mask_flip"])


def test_relu_without_dropout_agrees_exactly():
    cfg = validate({**SMALL, "dropout": 0.0, "seeds": 1})
    for r in train_plain(cfg)["history"]:
        assert r["mask_agreement"] == [1.0] * cfg.depth
        assert r["dropout_zero_frac_train"] == [0.0] * cfg.depth
        assert r["dead"] == r["negative"]


def test_measuring_does_not_change_training():
    # The probe's dropout masks come from a forked RNG: same weights with or without metrics.
    cfg = validate({**SMALL, "dropout": 0.5, "seeds": 1})
    assert train_plain(cfg)["final_val_acc"] == train_plain(cfg, measure=False)["final_val_acc"]


def test_measuring_leaves_batchnorm_statistics_alone():
    cfg = validate({**SMALL, "batchnorm": True, "dropout": 0.5, "activation": "tanh"})
    data = make_dataset(cfg)
    torch.manual_seed(0)
    model, acts, outs = build_mlp(cfg, data.n_features, data.n_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure_epoch(cfg, model, acts, outs, data, None)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not m._forward_hooks for m in model.modules())  # hooks are removed after measuring


def test_cnn_is_not_covered():
    with pytest.raises(NotImplementedError):
        train_plain(validate(dataset="digits", model="cnn", n_samples=100, epochs=1, seeds=1))


def test_set_weights_puts_each_tensor_in_its_module_and_counts_them():
    cfg = validate({**SMALL, "batchnorm": True, "depth": 1, "width": 3})
    model, _, _ = build_mlp(cfg, 2, 2)
    given = [(torch.full((3, 2), 1.0), torch.full((3,), 2.0)),
             (torch.full((3,), 3.0), torch.full((3,), 4.0), torch.full((3,), 5.0), torch.full((3,), 6.0)),
             (torch.full((2, 3), 7.0), torch.full((2,), 8.0))]
    set_weights(model, given)
    linear, bn, head = model[0], model[1], model[-1]
    got = [linear.weight, linear.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, head.weight, head.bias]
    assert [t.unique().item() for t in got] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    with pytest.raises(ValueError):  # one tuple per module with weights, no fewer
        set_weights(model, given[:2])
