"""core.results: settings of stored runs read back as what they were."""
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
