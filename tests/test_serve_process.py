"""Process-wide settings: the torch thread cap and the switch interval, applied by one function."""
from __future__ import annotations

import sys

import pytest
import torch

import core.recorder as recorder_mod
from core.config import validate
from core.serve.limits import Limits
from core.serve.process import apply_process_settings, current_settings, restore_process_settings
from core.threads import choose_threads


@pytest.fixture
def saved():
    before = current_settings()
    yield before
    restore_process_settings(before)


def test_hosted_thread_cap_wins_over_choose_threads(saved):
    torch.set_num_threads(2)
    big = validate(width=1024, depth=4, seeds=8, n_samples=20000, batch_size=0)
    assert choose_threads(big, 2, 14000, cores=2) == 2  # uncapped: a big step gets every core
    assert apply_process_settings(Limits.hosted_defaults()).torch_threads == 2  # what it was before
    assert torch.get_num_threads() == 1
    # the cap reaches each run as run_experiment's max_threads (what the job passes)
    assert choose_threads(big, 2, 14000, Limits.hosted_defaults().torch_threads, cores=2) == 1


def test_local_limits_leave_the_threads_alone(saved):
    torch.set_num_threads(2)
    apply_process_settings(Limits())
    assert torch.get_num_threads() == 2


def test_the_switch_interval_is_shortened_and_restored(saved):
    sys.setswitchinterval(0.005)
    before = apply_process_settings(Limits())
    assert sys.getswitchinterval() <= recorder_mod.SWITCH_INTERVAL_S + 1e-9
    assert before.switch_interval == pytest.approx(0.005)
    restore_process_settings(before)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_restore_puts_back_every_setting(saved):
    torch.set_num_threads(2)
    before = apply_process_settings(Limits.hosted_defaults())
    restore_process_settings(before)
    assert current_settings() == before
