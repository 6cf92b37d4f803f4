"""dashboard/views/sweep_run.py without a page: the sweep's size line, a refusal's advice, the order
of the metrics, what the store's summary says of a sweep, and the Shown holder across a pickle.
Training with live progress and Stop is driven through the page in test_dashboard_sweep.py and
test_browser_sweep.py."""
from __future__ import annotations

import pickle

from core import serve
from core.config import validate
from core.sweep import MAIN_METRICS, Sweep
from dashboard.views import sweep_run

# 2 points × 2 seeds; per point 3 epochs × 100 samples × width 8 × depth 2 × 2 seeds = 9,600 units
SMALL = Sweep(validate(n_samples=100, epochs=3, seeds=2, width=8, depth=2), (("dropout", (0.0, 0.5)),))


def test_the_size_line_counts_points_seeds_networks_and_work():
    assert sweep_run.size_line(SMALL, serve.Limits()) == \
        "2 points × 2 seeds = 4 networks, 3 epochs: 1.9e4 units of work."
    assert sweep_run.size_line(SMALL, serve.Limits(max_work=50_000)).endswith(
        ": 1.9e4 units of work of the 5.0e4 allowed.")


def test_a_refusal_gives_a_sweeps_advice():
    limits = serve.Limits(hosted=True, max_work=10_000)
    said = sweep_run.refusal(SMALL, limits, serve.BudgetError("a run's advice"))
    assert "\\.9e4" in said  # markdown-escaped for the page
    said = said.replace("\\", "")
    assert said.startswith("Not trained: This sweep is 1.9e4 units of work")
    assert "Reduce the seeds (2; at most 1 fit)" in said and "a run's advice" not in said
    # within the sweep's budget, the error it was given is said as it is
    assert sweep_run.refusal(SMALL, serve.Limits(), serve.BudgetError("memory")) == "Not trained: memory"


def test_a_presets_own_metrics_come_first_then_every_other_main_metric():
    order = list(sweep_run.metrics_for(Sweep(SMALL.base, SMALL.grid, preset="dropout-sweep")))
    assert order[:3] == ["gap_loss", "zero_frac", "mask_agreement"]
    assert sorted(order) == sorted(MAIN_METRICS) and len(order) == len(MAIN_METRICS)
    assert list(sweep_run.metrics_for(SMALL)) == list(MAIN_METRICS)


def test_the_stores_summary_names_a_sweep_with_its_grid():
    assert sweep_run.store_fields(SMALL) == {"kind": "sweep", "grid": {"dropout": [0.0, 0.5]}, "points": 2,
                                             "networks": 4}


def test_the_shown_holder_pickles_without_its_event_and_comes_back_idle():
    shown = sweep_run.Shown(key="k", sweep=SMALL)
    shown.idle.clear()  # a training in flight
    back = pickle.loads(pickle.dumps(shown))
    assert back.key == "k" and back.sweep == SMALL and back.idle.is_set()


def test_the_progress_text_says_what_the_bar_shows():
    from types import SimpleNamespace

    cfg = SimpleNamespace(epochs=3)  # 4 epochs to measure per point (epoch 0 included)
    runs = [SimpleNamespace(config=cfg, epochs_done=d) for d in (4, 2, 0)]
    frac, text = sweep_run.progress(runs, 12)
    assert frac == 0.5  # 6 of 12
    assert text == "Training: 6 of 12 epochs over 3 points; 1 point done"
    assert sweep_run.progress(runs, 0)[0] == 0.0
