"""Pictures of the trained networks (dashboard/charts/pictures.py): boundary and raster.
(The confusion matrix is drawn through the registry in test_charts.py.)"""
from __future__ import annotations

from dashboard.charts import pictures


def test_boundary_has_heatmap_and_points(tiny_experiment):
    fig = pictures.boundary(tiny_experiment, seed_index=1)
    types = [t.type for t in fig.data]
    assert types.count("contour") == 2
    assert types.count("scatter") >= 4  # train and validation points of both classes


def test_raster_two_train_passes_and_eval(tiny_experiment):
    fig = pictures.raster(tiny_experiment, layer=1, seed_index=0)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 3 * len(tiny_experiment.runs)
    titles = [a.text for a in fig.layout.annotations]
    assert any("ReLU</b>: train passes agree on 100%" in t for t in titles)  # no dropout: identical passes
