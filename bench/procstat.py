"""Memory figures of this process, read from /proc (Linux): no import beyond the standard library,
so a calibration child measures the engine, not its harness."""
from __future__ import annotations


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in bytes: this one's by
    default, or another's by its pid (a server a test started)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out
