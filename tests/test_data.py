"""Data: deterministic, standardized, independent of the network seed, label noise on train only."""
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
