"""core.results: settings of stored runs read back as what they were."""
import json

from core.config import validate
from core.results import config_from_dict


def test_runs_stored_before_the_scaling_setting_keep_the_scaling_they_had():
    # Engine 0.2 scaled digits with one global mean and std and everything else per feature,
    # and wrote no `scaling` field: a stored run reopened must say so.
    old_digits = {k: v for k, v in validate(dataset="digits", n_samples=1000).to_dict().items() if k != "scaling"}
    old_moons = {k: v for k, v in validate(n_samples=1000).to_dict().items() if k != "scaling"}
    assert config_from_dict(old_digits).scaling == "global"
    assert config_from_dict(old_moons).scaling == "feature"
    new = validate(dataset="digits", scaling="none").to_dict()
    assert config_from_dict(new).scaling == "none"


def test_every_metric_is_explained():
    from core.results import METRIC_HELP, METRICS

    assert set(METRIC_HELP) == set(METRICS)


def test_a_run_stored_before_revived_and_on_frac_train_opens_with_them_empty():
    # Engine 0.3.0 stored no `revived` and no `on_frac_train`: such a run still opens, exports and
    # draws, with those two all NaN (never measured) and every other number as stored.
    import numpy as np

    from core.results import LAYER_METRICS, Experiment
    from core.train import run_experiment

    exp = run_experiment(validate(n_samples=100, epochs=2, seeds=2, depth=2, width=8, batch_size=32))
    doc = exp.to_dict()
    for m in ("revived", "on_frac_train"):
        del doc["runs"][0]["metrics"][m]
    old = Experiment.from_dict(doc)
    r, new = old.runs[0], exp.runs[0]
    for m in ("revived", "on_frac_train"):
        assert r.metrics[m].shape == (2, 3, 2) and np.isnan(r.metrics[m]).all()
        assert not np.isnan(new.metrics[m][:, 1:]).all()
    for m in set(new.metrics) - {"revived", "on_frac_train"}:
        np.testing.assert_array_equal(r.metrics[m], new.metrics[m], err_msg=m)
    rec = old.export()["history"][-1]
    assert rec["revived"] == [None, None] and rec["dead"] == new.records()[-1]["dead"]
    assert set(old.to_frame().columns) >= set(LAYER_METRICS)


def test_exports_name_a_csv_file_not_the_folder_it_is_kept_in(tmp_path):
    from core.csvdata import example_csv
    from core.results import Experiment, RunResult, exported_config

    path = tmp_path / "secret-server-folder" / "abc123.csv"
    path.parent.mkdir()
    path.write_text(example_csv())
    cfg = validate(dataset="csv", data_path=str(path))
    r = RunResult.empty(cfg, "run", cfg.depth)
    exp = Experiment(cfg, [r])
    text = json.dumps(exp.export())
    assert "secret-server-folder" not in text and str(tmp_path) not in text
    assert exported_config(cfg)["data_path"] == "abc123.csv" and exported_config(validate())["data_path"] == ""
    assert exp.to_dict()["base"]["data_path"] == str(path)  # the store keeps it, to train it again
