"""Data: deterministic, scaled as `scaling` says, independent of the network seed, label noise on train only."""
import numpy as np
import pytest
import torch

from core.config import validate
from core.data import make_dataset
from core.registry import DATASETS


@pytest.mark.parametrize("name", [d for d in DATASETS if d != "csv"])
def test_every_dataset_builds_standardized(name):
    cfg = validate(dataset=name, n_samples=400)
    d = make_dataset(cfg)
    assert len(d.x_train) + len(d.x_val) == 400
    assert len(d.x_val) == 120
    assert torch.allclose(d.x_train.mean(0).mean(), torch.tensor(0.0), atol=1e-5)
    assert d.n_classes == {"gaussians": 3, "digits": 10}.get(name, 2)
    assert d.y_train.min() >= 0 and d.y_train.max() < d.n_classes
    if name != "digits":
        assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(2), atol=1e-4)


def test_same_settings_same_data_and_seed_does_not_change_data():
    a = make_dataset(validate(seed=0))
    b = make_dataset(validate(seed=7, seeds=5))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)


def test_label_noise_touches_training_labels_only():
    clean = make_dataset(validate(label_noise=0.0))
    noisy = make_dataset(validate(label_noise=1.0))
    assert torch.equal(clean.y_val, noisy.y_val)
    assert torch.equal(noisy.y_train_true, clean.y_train)
    agree = (noisy.y_train == noisy.y_train_true).float().mean().item()
    assert 0.4 < agree < 0.6  # fully random binary labels agree with the truth half the time


def test_digits_for_cnn_are_images():
    d = make_dataset(validate(dataset="digits", model="cnn", n_samples=300))
    assert d.x_train.shape[1:] == (1, 8, 8) and d.n_classes == 10


def test_csv_dataset(tmp_path):
    from core.csvdata import example_csv
    p = tmp_path / "pts.csv"
    p.write_text(example_csv(200))
    d = make_dataset(validate(dataset="csv", data_path=str(p)))
    assert len(d.x_train) + len(d.x_val) == 200 and d.is_2d


def _raw_split(**settings):
    """The same split with raw values (scaling none): what the scalers below are applied to."""
    d = make_dataset(validate(scaling="none", **settings))
    return d.x_train.double().numpy(), d.x_val.double().numpy()


def test_feature_scaling_is_scikit_learns_standard_scaler_fitted_on_training_data():
    from sklearn.preprocessing import StandardScaler

    raw_tr, raw_va = _raw_split(dataset="digits")
    d = make_dataset(validate(dataset="digits", scaling="feature"))
    ref = StandardScaler().fit(raw_tr)  # a constant feature gets scale 1: it becomes 0
    assert np.allclose(d.x_train.numpy(), ref.transform(raw_tr), atol=1e-5)
    assert np.allclose(d.x_val.numpy(), ref.transform(raw_va), atol=1e-5)
    constant = raw_tr.std(0) == 0
    assert constant.any()  # the digits have blank corner pixels: the case the rule is for
    assert (d.x_train.numpy()[:, constant] == 0).all()


def test_global_scaling_is_one_mean_and_std_over_all_training_inputs():
    raw_tr, raw_va = _raw_split(dataset="digits")
    d = make_dataset(validate(dataset="digits", scaling="global"))
    mu, sd = raw_tr.mean(), raw_tr.std()
    assert np.allclose(d.x_train.numpy(), (raw_tr - mu) / sd, atol=1e-5)
    assert np.allclose(d.x_val.numpy(), (raw_va - mu) / sd, atol=1e-5)


def test_no_scaling_leaves_the_raw_pixels():
    raw_tr, _ = _raw_split(dataset="digits")
    assert raw_tr.min() == 0 and raw_tr.max() == 16 and np.array_equal(raw_tr, raw_tr.round())


def test_scaling_keeps_the_split_and_labels():
    a, b = make_dataset(validate(scaling="none")), make_dataset(validate(scaling="global"))
    assert torch.equal(a.y_train, b.y_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, b.x_train)


def test_digits_use_every_bundled_image_once_by_default():
    from sklearn.datasets import load_digits

    d = make_dataset(validate(dataset="digits", scaling="none"))
    assert len(d.x_train) + len(d.x_val) == 1797
    got = sorted(r.astype(np.float32).tobytes() + bytes([y]) for r, y in
                 zip(torch.cat([d.x_train, d.x_val]).numpy(), torch.cat([d.y_train, d.y_val]).tolist(), strict=True))
    ref = load_digits()
    want = sorted(r.astype(np.float32).tobytes() + bytes([int(y)]) for r, y in zip(ref.data, ref.target, strict=True))
    assert got == want
    # n_samples = 1797 asks for the same examples as the default 0
    same = make_dataset(validate(dataset="digits", scaling="none", n_samples=1797))
    assert torch.equal(same.x_train, d.x_train)
    assert len(make_dataset(validate(dataset="digits", n_samples=500)).y_val) == 150
