"""The final pictures against plain computations on the same network: the decision boundary,
the confusion matrix and the on/off raster."""
import numpy as np
import torch
from sklearn.metrics import confusion_matrix

from core.artifacts import BOUNDARY_GRID, RASTER_INPUTS, RASTER_UNITS, final_artifacts
from core.config import validate
from core.data import make_dataset
from core.models import MEASURE, BatchedNet, SeedStreams


def _setup(**settings):
    cfg = validate(settings)
    data = make_dataset(cfg)
    net = BatchedNet(cfg, n_in=data.n_features, n_classes=data.n_classes)
    return cfg, data, net, final_artifacts(net, data, SeedStreams(cfg.seed_list, MEASURE))


def _eval(net, x):
    with torch.no_grad():
        logits, layers = net.forward(x.unsqueeze(0).expand(net.S, *x.shape), train=False, record=True)
    return logits, layers


def test_the_boundary_is_the_networks_own_prediction_over_a_grid_around_the_data():
    cfg, data, net, arts = _setup(dataset="moons", n_samples=120, width=8, seeds=2)
    b = arts["boundary"]
    pts = np.concatenate([data.x_train.numpy(), data.x_val.numpy()])
    assert np.allclose(b["x"][[0, -1]], [pts[:, 0].min() - 0.5, pts[:, 0].max() + 0.5], atol=1e-5)
    assert np.allclose(b["y"][[0, -1]], [pts[:, 1].min() - 0.5, pts[:, 1].max() + 0.5], atol=1e-5)
    gx, gy = np.meshgrid(b["x"], b["y"])  # row i is y[i], column j is x[j]
    prob = torch.softmax(_eval(net, torch.tensor(np.stack([gx, gy], -1).reshape(-1, 2)))[0], -1).numpy()
    G = BOUNDARY_GRID
    assert b["pred"].shape == (2, G, G)
    np.testing.assert_array_equal(b["pred"], prob.argmax(-1).reshape(2, G, G))
    np.testing.assert_allclose(b["conf"], prob.max(-1).reshape(2, G, G), atol=1e-3)  # stored as float16
    np.testing.assert_allclose(b["p1"], prob[..., 1].reshape(2, G, G), atol=1e-3)
    np.testing.assert_array_equal(arts["points"]["y_val"], data.y_val.numpy())
    assert "confusion" not in arts


def test_the_confusion_matrix_counts_validation_predictions():
    cfg, data, net, arts = _setup(dataset="digits", n_samples=300, width=8, seeds=3)
    pred = _eval(net, data.x_val)[0].argmax(-1).numpy()
    C = data.n_classes
    assert arts["confusion"].shape == (3, C, C) and "boundary" not in arts
    for s in range(3):
        want = confusion_matrix(data.y_val.numpy(), pred[s], labels=range(C))
        np.testing.assert_array_equal(arts["confusion"][s], want)
        np.testing.assert_array_equal(arts["confusion"][s].sum(1), np.bincount(data.y_val.numpy(), minlength=C))


def test_the_raster_shows_on_states_of_two_train_passes_and_one_eval_pass():
    # Without dropout or batch norm a train-mode pass is an eval pass: all three rows agree.
    # With dropout the first layer's train passes are its eval states masked: never on where eval
    # is off (deeper layers see dropped inputs, so they can be), and the two passes differ.
    for dropout in (0.0, 0.5):
        cfg, data, net, arts = _setup(dataset="moons", n_samples=200, width=80, depth=2, seeds=2, dropout=dropout)
        r = arts["raster"]
        P, U = RASTER_INPUTS, RASTER_UNITS  # 48 of the 140 training inputs, 64 of the 80 units
        assert r.shape == (2, 2, 3, P, U) and r.dtype == bool
        _, layers = _eval(net, data.x_train[:P])
        for i, layer in enumerate(layers):
            on = (layer.a > 0).flatten(2)[:, :, :U].numpy()
            np.testing.assert_array_equal(r[:, i, 2], on)
            if dropout == 0:
                np.testing.assert_array_equal(r[:, i, 0], on)
                np.testing.assert_array_equal(r[:, i, 1], on)
            elif i == 0:
                assert not (r[:, i, :2] & ~on[:, None]).any() and (r[:, i, 0] != r[:, i, 1]).any()


def test_a_variants_pictures_are_its_slices_and_what_all_share():
    from core.artifacts import slice_artifacts
    for settings in (dict(dataset="moons", n_samples=120, width=8, seeds=5), dict(dataset="digits", n_samples=150,
                                                                                     width=8, seeds=5)):
        _, _, _, arts = _setup(**settings)
        part = slice_artifacts(arts, 1, 3)
        assert part.keys() == arts.keys()
        np.testing.assert_array_equal(part["raster"], arts["raster"][1:3])
        if "boundary" in arts:
            for k in ("pred", "conf", "p1"):
                np.testing.assert_array_equal(part["boundary"][k], arts["boundary"][k][1:3])
            assert part["boundary"]["x"] is arts["boundary"]["x"] and part["points"] is arts["points"]
        else:
            np.testing.assert_array_equal(part["confusion"], arts["confusion"][1:3])
        assert not np.shares_memory(part["raster"], arts["raster"])  # its own, for its own result
