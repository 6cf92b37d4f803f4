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
