"""Serving experiments to many visitors: limits, budget, gate, deadline, shared jobs, notes.

One module per idea:

| module        | what it holds |
|---------------|---------------|
| `limits`      | `Limits` from the environment (RELU_LAB_HOSTED, RELU_LAB_MAX_*), `describe()` |
| `budget`      | `check_budget(configs, limits)`: refuse a run too big, with advice (BudgetError) |
| `deadline`    | `Deadline`: the time limit as a should_stop, with an injectable clock |
| `gate`        | `TrainingGate`: at most N trainings at once, a fair line (per visitor, shortest first, ageing) |
| `process`     | `apply_process_settings(limits)`: torch threads, switch interval, once at start |
| `jobs`        | `JobRegistry` / `Job`: one shared training per experiment; the runner seam |
| `snapshot`    | frozen copies and per-caller views of experiments that threads share |
| `notes`       | `Note(level, code, text)`: how a run was served, as data |
| `opened`      | `open_stored`, `RunCache`: stored runs read metered (priced, in a slot) and cached thinned |
| `thin`        | `thin(exp)`: at most ~500 epochs per curve, every k-th and the last, for pages and sessions |
| `uploads`     | `Uploads`: CSV files private to their session (or shared by link), swept with their runs |
| `partial`     | runs stopped at the time limit: kept under their own key, served marked partial |
| `guarded`     | `run_guarded(...)`: store, budget, job, watching; `stop_unwatched(...)`, `stop_and_collect(...)` |
| `ray_runner`  | `RayRunner`: the jobs' runner on a Ray cluster (RELU_LAB_RAY_ADDRESS); imports Ray when used |
| `errors`      | `ServeError` and its kinds: BudgetError, QueueFull, Cancelled |

No streamlit here: pure Python, plus torch through core.train (imported when a run starts).
"""
from __future__ import annotations

from core.serve.budget import check_budget
from core.serve.deadline import Deadline
from core.serve.errors import BudgetError, Cancelled, QueueFull, ServeError
from core.serve.gate import GateStats, Place, SlotInfo, TrainingGate, VisitorBusy, get_gate, waiting_message
from core.serve.guarded import run_guarded, stop_and_collect, stop_unwatched
from core.serve.jobs import JOBS, Job, JobRegistry, Progress, Runner, thread_runner
from core.serve.limits import ENV_VARS, HOSTED_MAX_WORK, Limits
from core.serve.notes import Note
from core.serve.opened import RunCache, Unreadable, open_stored
from core.serve.process import apply_process_settings, restore_process_settings
from core.serve.thin import thin

__all__ = [
    "ENV_VARS", "HOSTED_MAX_WORK", "JOBS", "BudgetError", "Cancelled", "Deadline", "GateStats", "Job",
    "JobRegistry", "Limits", "Note", "Place", "Progress", "QueueFull", "RunCache", "Runner", "ServeError", "SlotInfo",
    "TrainingGate", "Unreadable", "VisitorBusy", "open_stored", "thin",
    "apply_process_settings", "check_budget", "get_gate", "restore_process_settings", "run_guarded",
    "stop_and_collect", "stop_unwatched", "thread_runner", "waiting_message",
]
