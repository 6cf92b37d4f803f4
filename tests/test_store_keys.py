"""core.store.keys: the default path, the experiment key, the summary a stored run is listed by."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core import store as store_mod
from core.config import Config
from core.results import Experiment, RunResult
from core.store import RunStore, experiment_key

REPO = Path(__file__).resolve().parent.parent


def test_default_path_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELU_LAB_STORE", raising=False)
    assert store_mod.default_path() == REPO / ".data" / "runs.db"  # not opened: never touch the real store
    target = tmp_path / "a" / "b" / "mine.db"
    monkeypatch.setenv("RELU_LAB_STORE", str(target))
    s = RunStore()
    assert s.path == target and target.exists()  # parent dirs created


def test_experiment_key() -> None:
    a, b = {"lr": 0.01, "depth": 2}, {"depth": 2, "lr": 0.01}
    k = experiment_key([a], "v1")
    assert len(k) == 32 and int(k, 16) >= 0
    assert experiment_key([b], "v1") == k  # dict order does not matter
    assert experiment_key([a], "v2") != k
    assert experiment_key([a], "v1", {"x": 1}) != k
    assert experiment_key([a, {"lr": 0.1}], "v1") != experiment_key([{"lr": 0.1}, a], "v1")
    blob = json.dumps({"configs": [a], "engine": "v1", "extra": None}, sort_keys=True, separators=(",", ":"))
    assert k == hashlib.sha256(blob.encode()).hexdigest()[:32]
    cfg = Config(epochs=3)
    assert experiment_key([cfg], "v1") == experiment_key([cfg.to_dict()], "v1")


def test_summarize(tiny_experiment) -> None:
    exp = tiny_experiment
    s = store_mod.summarize(exp)
    assert s["variants"] == ["ReLU", "dropout"] and s["title"] == "tiny" and s["status"] == "ok"
    for r in exp.runs:  # each variant's final validation accuracy, averaged over seeds, by hand
        finals = [r.metrics["val_acc"][i, r.epochs_done - 1] for i in range(len(r.seeds))]
        assert s["val_acc"][r.name] == round(sum(finals) / len(finals), 4)
    never = RunResult.empty(Config(epochs=2), "never started", layers=2)
    assert store_mod.summarize(Experiment(Config(epochs=2), [never]))["val_acc"] == {"never started": None}
    assert "stopped" not in store_mod.STORABLE and set(store_mod.STORABLE) == {"ok", "diverged"}


def test_engine_version_is_the_package_version():
    # core.__version__ is part of every stored run's key; the package metadata must not drift from it.
    import tomllib

    import core
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["version"] == core.__version__
