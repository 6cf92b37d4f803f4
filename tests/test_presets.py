"""Every preset is valid and runs, and its claims name only what it measures. Whether the claims
hold is tests/test_claims.py's job (full length, 5 seeds from 0 and from 100)."""
import pytest

from core.presets import PRESETS
from core.train import run_experiment


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_runs_shortened(name):
    p = PRESETS[name]
    base = p.base_config(epochs=2)
    exp = run_experiment(base, p.variants, title=p.title, preset=name)
    assert exp.status in ("ok", "diverged")
    assert [r.name for r in exp.runs] == list(p.variants)
    assert 2 <= len(exp.runs) <= 4  # the page compares at most four variants
    for r in exp.runs:
        assert r.epochs_done == 3
    # every claim reads variants, epochs and pictures this preset has (else: "not measured")
    for c in p.claims:
        assert "not measured" not in c.verdict(exp).evidence, (name, c.text)
