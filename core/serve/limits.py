"""What one run may cost, read from the environment (RELU_LAB_HOSTED and friends).

Hosted (RELU_LAB_HOSTED=1): a work budget, a memory estimate cap, a wall-clock limit, one torch
thread per run. Locally (`make run`): a budget sized for a laptop that *asks first* instead of
refusing (a run over LOCAL_MAX_WORK units of work, or over half the memory limit, trains only once
the user confirms it: `ask_first`), a memory limit that nothing passes, confirmed or not, no time
limit, and at most two trainings at once. Every figure is overridden by the same variables.
A malformed value is a ConfigError naming the variable: a server that was meant to be limited
must not start unlimited because of a typo.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.config import ConfigError

ENV_HOSTED = "RELU_LAB_HOSTED"
ENV_MAX_WORK = "RELU_LAB_MAX_WORK"
ENV_MAX_SECONDS = "RELU_LAB_MAX_SECONDS"
ENV_MAX_CONCURRENT = "RELU_LAB_MAX_CONCURRENT"
ENV_MAX_QUEUE = "RELU_LAB_MAX_QUEUE"
ENV_MAX_MEMORY_MB = "RELU_LAB_MAX_MEMORY_MB"
ENV_TORCH_THREADS = "RELU_LAB_TORCH_THREADS"
ENV_STORE_MAX_MB = "RELU_LAB_STORE_MAX_MB"
ENV_MAX_PER_VISITOR = "RELU_LAB_MAX_PER_VISITOR"
ENV_UPLOAD_TTL_H = "RELU_LAB_UPLOAD_TTL_H"
ENV_RAY_ADDRESS = "RELU_LAB_RAY_ADDRESS"
ENV_VARS = (ENV_HOSTED, ENV_MAX_WORK, ENV_MAX_SECONDS, ENV_MAX_CONCURRENT, ENV_MAX_QUEUE, ENV_MAX_MEMORY_MB,
            ENV_TORCH_THREADS, ENV_STORE_MAX_MB, ENV_MAX_PER_VISITOR, ENV_UPLOAD_TTL_H, ENV_RAY_ADDRESS)

# The heaviest preset (memorize-random-labels) is 1.8e8 units; 5e8 leaves room to double a
# preset's epochs and rejects the runs that would hold a slot for minutes.
HOSTED_MAX_WORK = 500_000_000
HOSTED_MAX_SECONDS = 60.0
# Per run. Two runs at once plus the server itself (~0.5 GB with torch and scikit-learn
# loaded) stay under 2 GB. The presets need 35 to 70 MB by the same estimate.
HOSTED_MAX_MEMORY_MB = 512
# What a server holds besides its runs: Python, torch, scikit-learn, Streamlit and the pages'
# sessions (about 0.45 GB measured with the engine warmed up). With the per-run limit, the slots
# and the cache of opened runs it makes the server's configured total (server_memory_mb).
SERVER_BASE_MB = 512
SERVER_CACHE_MB = 64  # core.serve.opened.CACHE_MB: thinned views of stored runs, shared by sessions
# The run store's documents (compressed): a demo's disk does not fill up with visitors' runs;
# the least recently used are evicted. A heavy 64-seed, 5,000-epoch run is about 8.5 MB.
HOSTED_STORE_MAX_MB = 512
# Per visitor (a browser): this many trainings running and as many waiting, so one visitor cannot
# hold every slot and place of a shared demo.
HOSTED_MAX_PER_VISITOR = 1
# Uploaded CSV files and the runs trained on them are deleted this many hours after the upload.
HOSTED_UPLOAD_TTL_H = 24.0
# Locally (a laptop): runs above this much work (about 10-30 s on two cores; the heaviest preset is
# 1.8e8) or above half the memory limit are trained only once confirmed; no run, confirmed or not,
# is started if its estimate is above the memory limit (two such runs plus the server's ~0.5 GB
# stay under 5 GB).
LOCAL_MAX_WORK = 2_000_000_000
LOCAL_MAX_MEMORY_MB = 2048
DEFAULT_MAX_CONCURRENT = 2  # the hosts have two cores; locally too, so the page stays responsive
DEFAULT_MAX_QUEUE = 50
# With Ray the trainings run on the cluster, which queues them itself: a replica's gate only
# bounds how many it hands over at once (each costs a waiting thread and its snapshots here).
RAY_MAX_CONCURRENT = 32

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_UNLIMITED = {"none", "off", "unlimited", "0"}


@dataclass(frozen=True)
class Limits:
    """What one run may cost. None means no limit. The defaults are the local (not hosted) ones."""

    hosted: bool = False
    max_work: int | None = None          # epochs x n_samples x width x depth x seeds, summed over variants
    max_seconds: float | None = None     # wall clock per run, from the moment it gets a slot
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queue: int = DEFAULT_MAX_QUEUE
    torch_threads: int | None = None     # None: leave core.train's own choice alone
    max_memory_mb: int | None = None     # estimated peak memory of one run (core.cost.estimate_memory_mb)
    store_max_mb: int | None = None      # size cap of the run store (core.store.RunStore max_mb)
    max_per_visitor: int | None = None   # trainings running, and as many waiting, per visitor (gate)
    upload_ttl_h: float | None = None    # hours an upload and its runs are kept (None: for ever)
    ray_address: str | None = None       # trainings on Ray (core.serve.ray_runner); None: threads here
    ask_first: bool = False              # over max_work or half max_memory_mb: ask, do not refuse (local)

    @classmethod
    def local_defaults(cls) -> Limits:
        return cls(max_work=LOCAL_MAX_WORK, max_memory_mb=LOCAL_MAX_MEMORY_MB, ask_first=True)

    @property
    def ask_memory_mb(self) -> float | None:
        """Estimated memory above which a run asks first (ask_first), or is refused (hosted)."""
        if self.max_memory_mb is None:
            return None
        return self.max_memory_mb / 2 if self.ask_first else self.max_memory_mb

    @classmethod
    def hosted_defaults(cls) -> Limits:
        return cls(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=HOSTED_MAX_SECONDS,
                   torch_threads=1, max_memory_mb=HOSTED_MAX_MEMORY_MB, store_max_mb=HOSTED_STORE_MAX_MB,
                   max_per_visitor=HOSTED_MAX_PER_VISITOR, upload_ttl_h=HOSTED_UPLOAD_TTL_H)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Hosted mode when RELU_LAB_HOSTED is 1/true/yes/on; every limit can be overridden.

        RELU_LAB_MAX_WORK / _MAX_SECONDS / _MAX_MEMORY_MB / _STORE_MAX_MB / _MAX_PER_VISITOR /
        _UPLOAD_TTL_H accept 'none' (or 0) for no limit.
        """
        env = os.environ if environ is None else environ
        raw = env.get(ENV_HOSTED, "").strip().lower()
        if raw not in _TRUE | _FALSE:
            raise ConfigError(ENV_HOSTED, env.get(ENV_HOSTED), "1, true, yes or on (hosted); 0, false, no, off "
                                                               "or unset (local)")
        lim = cls.hosted_defaults() if raw in _TRUE else cls.local_defaults()
        over: dict[str, Any] = {}
        ray = _env_ray_address(env.get(ENV_RAY_ADDRESS, ""))
        if ray is not None:
            over.update(ray_address=ray, max_concurrent=RAY_MAX_CONCURRENT)
        for var, name, parse in ((ENV_MAX_WORK, "max_work", _env_budget_int),
                                 (ENV_MAX_SECONDS, "max_seconds", _env_budget_float),
                                 (ENV_MAX_MEMORY_MB, "max_memory_mb", _env_budget_int),
                                 (ENV_STORE_MAX_MB, "store_max_mb", _env_budget_int),
                                 (ENV_MAX_PER_VISITOR, "max_per_visitor", _env_per_visitor),
                                 (ENV_UPLOAD_TTL_H, "upload_ttl_h", _env_budget_hours),
                                 (ENV_MAX_CONCURRENT, "max_concurrent", _env_count(1)),
                                 (ENV_MAX_QUEUE, "max_queue", _env_count(0)),
                                 (ENV_TORCH_THREADS, "torch_threads", _env_count(1))):
            value = env.get(var)
            if value is not None and value.strip() != "":
                over[name] = parse(var, value)
        return replace(lim, **over)

    def server_memory_mb(self) -> int | None:
        """The configured total for the whole server (None without a per-run memory limit): its
        own base, `max_concurrent` runs at their limit (a heavy read of a stored run takes a slot
        and is priced the same way) and the cache of opened runs. Hosted: 512 + 2 x 512 + 64 MB.
        With Ray the trainings run on the cluster, so this is an upper bound for a replica."""
        if self.max_memory_mb is None:
            return None
        return SERVER_BASE_MB + self.max_concurrent * self.max_memory_mb + SERVER_CACHE_MB

    def describe(self) -> str:
        """One sentence for the page's 'about this demo' line."""
        if not self.hosted and self.max_work is None and self.max_seconds is None and self.max_memory_mb is None:
            return f"Local mode: no limits on run size; {self.max_concurrent} trainings at a time."
        if self.ask_first:
            asks = [f"{sci(self.max_work)} units of work" if self.max_work is not None else "",
                    f"about {self.ask_memory_mb:g} MB of memory" if self.max_memory_mb is not None else ""]
            hard = f"; none may need more than about {self.max_memory_mb} MB" if self.max_memory_mb is not None else ""
            return (f"Local mode: a run over {' or '.join(a for a in asks if a)} asks before it trains{hard}; "
                    f"{self.max_concurrent} trainings at a time.")
        parts = []
        if self.max_work is not None:
            parts.append(f"up to {sci(self.max_work)} units of work")
        if self.max_memory_mb is not None:
            parts.append(f"about {self.max_memory_mb} MB of memory")
        if self.max_seconds is not None:
            parts.append(f"{self.max_seconds:g} s")
        size = ", ".join(parts) if parts else "no size limit"
        per = "" if self.max_per_visitor is None else \
            f" (at most {self.max_per_visitor} training and {self.max_per_visitor} waiting per visitor)"
        return (f"{'Hosted demo' if self.hosted else 'Limited mode'}: each run may use {size}; "
                f"{self.max_concurrent} runs train at a time and up to {self.max_queue} wait in line{per}.")


def _env_number(var: str, value: str, allowed: str) -> float:
    try:
        x = float(value.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(var, value, allowed) from None
    if not math.isfinite(x) or x < 0:
        raise ConfigError(var, value, allowed)
    return x


def _env_budget_int(var: str, value: str) -> int | None:
    allowed = "a positive whole number such as 500000000 or 5e8, or 'none' for no limit"
    if value.strip().lower() in _UNLIMITED:
        return None
    x = _env_number(var, value, allowed)
    if not x.is_integer():
        raise ConfigError(var, value, allowed)
    return int(x)


def _env_budget_float(var: str, value: str) -> float | None:
    if value.strip().lower() in _UNLIMITED:
        return None
    return _env_number(var, value, "a positive number of seconds such as 60, or 'none' for no limit")


def _env_per_visitor(var: str, value: str) -> int | None:
    if value.strip().lower() in _UNLIMITED:
        return None
    return _env_count(1)(var, value)


def _env_budget_hours(var: str, value: str) -> float | None:
    if value.strip().lower() in _UNLIMITED:
        return None
    return _env_number(var, value, "a positive number of hours such as 24, or 'none' to keep uploads")


def _env_ray_address(value: str) -> str | None:
    """RELU_LAB_RAY_ADDRESS: local, auto, ray://host:port or host:port; unset or empty: no Ray."""
    v = value.strip()
    if not v:
        return None
    host_port = v.removeprefix("ray://").rpartition(":")
    if v in ("local", "auto") or (host_port[0] and host_port[2].isdigit() and " " not in v):
        return v
    raise ConfigError(ENV_RAY_ADDRESS, value, "local (start Ray on this machine), auto (the cluster this "
                                              "machine joined), ray://host:port or host:port")


def _env_count(lo: int) -> Callable[[str, str], int]:
    def parse(var: str, value: str) -> int:
        allowed = f"a whole number >= {lo}"
        x = _env_number(var, value, allowed)
        if not x.is_integer() or x < lo:
            raise ConfigError(var, value, allowed)
        return int(x)
    return parse


def sci(x: float) -> str:
    """3200000000 -> '3.2e9'; small numbers as they are."""
    if x < 10_000:
        return f"{x:g}"
    m, e = f"{x:.1e}".split("e")
    return f"{m}e{int(e)}"


def count(n: int, one: str, many: str) -> str:
    """count(1, 'run', 'runs') -> '1 run'; count(3, ...) -> '3 runs'."""
    return f"{n} {one if n == 1 else many}"
