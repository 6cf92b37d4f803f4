"""Limits from the environment: hosted defaults, overrides, and one-line errors for bad values."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.config import ConfigError
from core.serve.limits import (
    ENV_HOSTED,
    ENV_VARS,
    HOSTED_MAX_WORK,
    LOCAL_MAX_MEMORY_MB,
    LOCAL_MAX_WORK,
    Limits,
    count,
    sci,
)


def test_limits_defaults_are_local():
    lim = Limits.from_env({})
    assert lim == Limits.local_defaults()
    # A laptop's budget: over it a run asks first; the memory limit is passed by nothing.
    assert not lim.hosted and lim.ask_first and lim.max_seconds is None
    assert lim.max_work == LOCAL_MAX_WORK and lim.max_memory_mb == LOCAL_MAX_MEMORY_MB
    assert lim.ask_memory_mb == LOCAL_MAX_MEMORY_MB / 2
    assert lim.max_concurrent == 2 and lim.max_queue == 50 and lim.torch_threads is None
    assert lim.describe() == ("Local mode: a run over 2.0e9 units of work or about 1024 MB of memory asks before "
                              "it trains; none may need more than about 2048 MB; 2 trainings at a time.")


def test_local_budget_is_overridden_by_the_hosted_variables():
    lim = Limits.from_env({"RELU_LAB_MAX_WORK": "none", "RELU_LAB_MAX_MEMORY_MB": "600"})
    assert lim.ask_first and lim.max_work is None and lim.max_memory_mb == 600 and lim.ask_memory_mb == 300
    free = Limits.from_env({"RELU_LAB_MAX_WORK": "none", "RELU_LAB_MAX_MEMORY_MB": "none"})
    assert free.ask_memory_mb is None and "no limits on run size" in free.describe()
    assert Limits.hosted_defaults().ask_memory_mb == Limits.hosted_defaults().max_memory_mb  # hosted refuses


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_limits_hosted_on(value):
    lim = Limits.from_env({ENV_HOSTED: value})
    assert lim == Limits.hosted_defaults()
    assert lim.hosted and lim.max_work == HOSTED_MAX_WORK and lim.max_seconds == 60 and lim.torch_threads == 1
    assert lim.max_per_visitor == 1 and lim.upload_ttl_h == 24
    assert "Hosted demo" in lim.describe() and "60 s" in lim.describe()


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_limits_hosted_off(value):
    assert Limits.from_env({ENV_HOSTED: value}) == Limits.local_defaults()


def test_limits_overrides():
    lim = Limits.from_env({ENV_HOSTED: "1", "RELU_LAB_MAX_WORK": "1e9", "RELU_LAB_MAX_SECONDS": "30.5",
                           "RELU_LAB_MAX_CONCURRENT": "3", "RELU_LAB_MAX_QUEUE": "0",
                           "RELU_LAB_MAX_MEMORY_MB": "none", "RELU_LAB_TORCH_THREADS": "2"})
    assert (lim.max_work, lim.max_seconds, lim.max_concurrent, lim.max_queue, lim.max_memory_mb,
            lim.torch_threads) == (10**9, 30.5, 3, 0, None, 2)
    assert Limits.from_env({ENV_HOSTED: "1", "RELU_LAB_MAX_PER_VISITOR": "none", "RELU_LAB_UPLOAD_TTL_H": "0.5"}) \
        == replace(Limits.hosted_defaults(), max_per_visitor=None, upload_ttl_h=0.5)
    assert Limits.from_env({"RELU_LAB_MAX_PER_VISITOR": "3", "RELU_LAB_UPLOAD_TTL_H": "none"}) == \
        replace(Limits.local_defaults(), max_per_visitor=3)
    local = Limits.from_env({"RELU_LAB_MAX_WORK": "1000"})  # a local user may set a budget too
    assert not local.hosted and local.max_work == 1000 and local.max_seconds is None


def test_store_size_cap_hosted_default_and_override():
    assert Limits.from_env({}).store_max_mb is None  # locally the store keeps everything
    assert Limits.from_env({ENV_HOSTED: "1"}).store_max_mb == 512
    assert Limits.from_env({ENV_HOSTED: "1", "RELU_LAB_STORE_MAX_MB": "none"}).store_max_mb is None
    assert Limits.from_env({"RELU_LAB_STORE_MAX_MB": "2e3"}).store_max_mb == 2000
    with pytest.raises(ConfigError, match="^RELU_LAB_STORE_MAX_MB: '-1' is not allowed"):
        Limits.from_env({"RELU_LAB_STORE_MAX_MB": "-1"})


def test_limits_read_os_environ(monkeypatch):
    monkeypatch.setenv(ENV_HOSTED, "yes")
    monkeypatch.setenv("RELU_LAB_MAX_SECONDS", "12")
    assert Limits.from_env().max_seconds == 12 and Limits.from_env().hosted


def test_every_variable_is_read():
    # ENV_VARS is what the page keys its cached Limits by: a variable missing there would be
    # read once and never again.
    assert len(set(ENV_VARS)) == 11
    for var in ENV_VARS[1:]:
        with pytest.raises(ConfigError, match=f"^{var}:"):
            Limits.from_env({var: "not a number"})


@pytest.mark.parametrize("var,value", [
    ("RELU_LAB_MAX_WORK", "lots"), ("RELU_LAB_MAX_WORK", "nan"), ("RELU_LAB_MAX_WORK", "1.5"),
    ("RELU_LAB_MAX_SECONDS", "-5"), ("RELU_LAB_MAX_CONCURRENT", "0"), ("RELU_LAB_MAX_CONCURRENT", "1.5"),
    ("RELU_LAB_MAX_QUEUE", "many"), (ENV_HOSTED, "maybe"), ("RELU_LAB_MAX_PER_VISITOR", "1.5"),
    ("RELU_LAB_UPLOAD_TTL_H", "-1"),
])
def test_limits_bad_value_names_the_variable(var, value):
    with pytest.raises(ConfigError) as e:
        Limits.from_env({ENV_HOSTED: "1", var: value})
    msg = str(e.value)
    assert msg.startswith(f"{var}: {value!r} is not allowed; allowed: ") and "\n" not in msg


def test_describe_limited_local_mode():
    text = Limits(max_work=1000, max_seconds=5).describe()
    assert text == ("Limited mode: each run may use up to 1000 units of work, 5 s; "
                    "2 runs train at a time and up to 50 wait in line.")


def test_number_words():
    assert (sci(3_200_000_000), sci(500_000_000), sci(9999)) == ("3.2e9", "5.0e8", "9999")
    assert (count(1, "run", "runs"), count(0, "run", "runs"), count(2, "run", "runs")) == ("1 run", "0 runs", "2 runs")


def test_the_servers_configured_memory_total():
    from core.serve.limits import SERVER_BASE_MB, SERVER_CACHE_MB
    from core.serve.opened import CACHE_MB

    assert Limits().server_memory_mb() is None  # no per-run limit: no total either
    hosted = Limits.from_env({"RELU_LAB_HOSTED": "1"})
    assert hosted.server_memory_mb() == 512 + 2 * 512 + 64 == 1600
    wider = Limits.from_env({"RELU_LAB_HOSTED": "1", "RELU_LAB_MAX_CONCURRENT": "3", "RELU_LAB_MAX_MEMORY_MB": "256"})
    assert wider.server_memory_mb() == SERVER_BASE_MB + 3 * 256 + SERVER_CACHE_MB
    assert CACHE_MB == SERVER_CACHE_MB  # the cache the total counts is the cache the server keeps
