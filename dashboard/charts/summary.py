"""The page's table of final numbers per variant (mean ± std over seeds), beside the charts."""
from __future__ import annotations

import numpy as np

from core.registry import mask_note
from core.safetext import csv_cell
from dashboard.charts.style import runs_of

SUMMARY = (("val_acc", "val acc"), ("gap_acc", "acc gap"), ("gap_loss", "loss gap"),
           ("mask_agreement", "mask agree"), ("dead", "dead units"))


def summary_rows(obj) -> list[dict]:
    """Final numbers per variant (mean ± std over seeds), for the page's table. A 'status' column
    appears only when some variant did not finish normally. The name is spreadsheet-safe: the
    table's CSV download writes cells as shown."""
    runs = runs_of(obj)
    show_status = any(r.status != "ok" for r in runs)
    out = []
    for r in runs:
        row: dict = {"variant": csv_cell(r.name)}
        if show_status:
            row["status"] = f"{r.status} ({r.last_epoch} epochs)"
        for m, label in SUMMARY:
            if not r.epochs_done:
                row[label] = "–"
            elif m == "dead":  # over every hidden unit, so the count says of how many
                row[label] = f"{_pm(r.final('dead').sum(axis=1), '.1f')} of {r.config.width * r.layers}"
            elif m == "mask_agreement":  # the first hidden layer, as the mask chart and the CLI
                why = mask_note(r.config.activation)
                row[label] = f"n/a: {why}" if why else _pm(r.final(m)[:, 0])
            else:
                row[label] = _pm(r.final(m))
        out.append(row)
    return out


def _pm(v: np.ndarray, fmt: str = ".3f") -> str:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "–"
    if len(v) == 1:
        return format(float(v[0]), fmt)
    return f"{format(float(v.mean()), fmt)} ± {format(float(v.std()), fmt)}"
