"""Serving experiments to many visitors: limits, budget, gate, deadline, shared jobs, notes.

One module per idea:

| module        | what it holds |
|---------------|---------------|
| `limits`      | `Limits` from the environment (RELU_LAB_HOSTED, RELU_LAB_MAX_*), `describe()` |
| `budget`      | `check_budget(configs, limits)`: refuse a run too big, with advice (BudgetError) |
| `deadline`    | `Deadline`: the time limit as a should_stop, with an injectable clock |
| `gate`        | `TrainingGate`: at most N trainings at once, a FIFO line; `get_gate()` |
| `process`     | `apply_process_settings(limits)`: torch threads, switch interval, once at start |
| `jobs`        | `JobRegistry` / `Job`: one shared training per experiment; the runner seam |
| `snapshot`    | frozen copies and per-caller views of experiments that threads share |
| `notes`       | `Note(level, code, text)`: how a run was served, as data |
| `guarded`     | `run_guarded(...)`: store, budget, job, watching; `stop_unwatched(...)` |
| `ray_runner`  | `RayRunner`: the jobs' runner on a Ray cluster (RELU_LAB_RAY_ADDRESS); imports Ray when used |
| `errors`      | `ServeError` and its kinds: BudgetError, QueueFull, Cancelled |

No streamlit here: pure Python, plus torch through core.train (imported when a run starts).
"""
from __future__ import annotations

from core.serve.budget import check_budget
from core.serve.deadline import Deadline
from core.serve.errors import BudgetError, Cancelled, QueueFull, ServeError
from core.serve.gate import GateStats, SlotInfo, TrainingGate, get_gate, waiting_message
from core.serve.guarded import run_guarded, stop_unwatched
from core.serve.jobs import JOBS, Job, JobRegistry, Progress, Runner, thread_runner
from core.serve.limits import ENV_VARS, HOSTED_MAX_WORK, Limits
from core.serve.notes import Note
from core.serve.process import apply_process_settings, restore_process_settings

__all__ = [
    "ENV_VARS", "HOSTED_MAX_WORK", "JOBS", "BudgetError", "Cancelled", "Deadline", "GateStats", "Job",
    "JobRegistry", "Limits", "Note", "Progress", "QueueFull", "Runner", "ServeError", "SlotInfo", "TrainingGate",
    "apply_process_settings", "check_budget", "get_gate", "restore_process_settings", "run_guarded",
    "stop_unwatched", "thread_runner", "waiting_message",
]
