"""The scale-out lab on this machine: PostgreSQL, a Ray head with two workers, two Streamlit replicas.

    python -m bench.stack up [--replicas 2] [--workers 2]   (make stack)
    python -m bench.stack status                             memory of every component
    python -m bench.stack down                               (make stack-down)

Everything listens on loopback ports chosen free at start, and everything it starts is recorded
in .stack/stack.json (git-ignored) with its logs in .stack/logs/, so `down` stops exactly those
processes, by their ids, and nothing else on the machine:

* PostgreSQL: a throwaway cluster (bench.postgres) in a temporary folder, run as `postgres`; the
  replicas' RELU_LAB_STORE points at it. `down` stops it and deletes the folder.
* Ray: `ray start --head --block` with no CPUs of its own (it schedules, it does not train), and
  `--workers` worker nodes of one CPU each, all with token authentication (a token made for this
  stack, .stack/ray_token). Each `ray start --block` owns its node's processes: SIGTERM to it
  drains and stops them. The replicas' RELU_LAB_RAY_ADDRESS is the head's address.
* Streamlit: `--replicas` servers of dashboard/app.py, each on its own port, sharing the store
  and the cluster: one lab however many replicas a proxy spreads visitors over.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import postgres

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / ".stack"   # tests pass a folder of their own
RAY = str(Path(sys.executable).parent / "ray")
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
OBJECT_STORE_MB = 100      # per node: snapshots are small and copied out at once
WORKER_MEMORY_MB = 4096    # what Ray may hand out per worker node (tasks declare their estimate)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _state_file(folder: Path) -> Path:
    return folder / "stack.json"


def _logs(folder: Path) -> Path:
    return folder / "logs"


def _token(folder: Path) -> Path:
    return folder / "ray_token"


def ray_env(folder: Path = STACK) -> dict[str, str]:
    """What every process of the stack needs to reach its Ray cluster: the token and the code."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(_token(folder)), "PYTHONPATH": str(ROOT),
            "RAY_USAGE_STATS_ENABLED": "0"}


def _spawn(folder: Path, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    log = open(_logs(folder) / f"{name}.log", "w")  # noqa: SIM115 - the child keeps it; closed here after the fork
    try:
        # A session of its own: Ctrl-C in the terminal that ran `make stack` does not reach it.
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env}, start_new_session=True)
    finally:
        log.close()


def _wait_log(folder: Path, proc: subprocess.Popen, name: str, text: str, timeout: float = START_TIMEOUT_S) -> None:
    """Until the process's log says `text`; RuntimeError (with the log's tail) if it exits first."""
    log = _logs(folder) / f"{name}.log"
    deadline = time.monotonic() + timeout
    while True:
        out = log.read_text(errors="replace")
        if text in out:
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if proc.returncode is not None else f"not ready in {timeout:g} s"
            raise RuntimeError(f"{name} {why}:\n{out[-3000:]}")
        try:
            proc.wait(0.2)
        except subprocess.TimeoutExpired:
            pass


def load(folder: Path = STACK) -> dict | None:
    """The stack's record (stack.json), or None if it is not up."""
    f = _state_file(folder)
    return json.loads(f.read_text()) if f.exists() else None


def up(replicas: int = 2, workers: int = 2, folder: Path = STACK, env: dict[str, str] | None = None,
       launcher: list[str] | None = None) -> dict:
    """Start the stack, recorded in `folder`; returns its record. env: more variables for the
    replicas (hosted limits, ...); launcher: the replicas' command before streamlit_flags (default
    `python -m streamlit run`; bench.load_stack's counts trainings). Anything that fails stops what
    was started."""
    old = load(folder)
    if old is not None:
        if any(_alive(p) for p in _pids(old)):
            raise SystemExit(f"the stack is already up ({_state_file(folder)}): `make stack-down` first")
        down(folder, quiet=True)
    _logs(folder).mkdir(parents=True, exist_ok=True)
    token = _token(folder)
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    state: dict = {"started": time.time(), "logs": str(_logs(folder)), "ray": {}, "replicas": []}

    def _save(state: dict) -> None:
        _state_file(folder).write_text(json.dumps(state, indent=2))

    try:
        pg = postgres.Cluster.start()
        state["postgres"] = {"folder": str(pg.folder), "port": pg.port, "url": pg.url}
        _save(state)
        from core.store import open_run_store

        open_run_store(pg.url).close()  # the schema, once, before the replicas start together

        port = _free_port()
        address = f"127.0.0.1:{port}"
        ready = "This command will now block forever"
        head = _spawn(folder, "ray-head", [RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=0",
                                   "--include-dashboard=false", "--disable-usage-stats",
                                   f"--object-store-memory={OBJECT_STORE_MB * 2**20}"], ray_env(folder))
        state["ray"] = {"address": address, "head": head.pid, "workers": []}
        _save(state)
        _wait_log(folder, head, "ray-head", ready)
        for i in range(1, workers + 1):  # one after another: on two busy cores, joining at once times out
            w = _spawn(folder, f"ray-worker-{i}", [RAY, "start", "--block", f"--address={address}", "--num-cpus=1",
                                           f"--memory={WORKER_MEMORY_MB * 2**20}", "--disable-usage-stats",
                                           f"--object-store-memory={OBJECT_STORE_MB * 2**20}"], ray_env(folder))
            state["ray"]["workers"].append(w.pid)
            _save(state)
            _wait_log(folder, w, f"ray-worker-{i}", ready)

        from bench.harness import Server, streamlit_flags, wait_healthy

        lab_env = {**(env or {}), **ray_env(folder), "RELU_LAB_STORE": pg.url, "RELU_LAB_RAY_ADDRESS": address}
        started = []
        for i in range(1, replicas + 1):
            p = _free_port()
            proc = _spawn(folder, f"replica-{i}", [*(launcher or [sys.executable, "-m", "streamlit", "run"]),
                                                   *streamlit_flags(p)], lab_env)
            state["replicas"].append({"pid": proc.pid, "port": p, "url": f"http://127.0.0.1:{p}"})
            started.append(Server(f"http://127.0.0.1:{p}", proc, _logs(folder) / f"replica-{i}.log"))
        _save(state)
        for server in started:
            wait_healthy(server, START_TIMEOUT_S)
    except BaseException:
        down(folder, quiet=True)
        raise
    return state


def _pids(state: dict) -> list[int]:
    ray = state.get("ray") or {}
    return [r["pid"] for r in state.get("replicas", [])] + list(ray.get("workers", [])) + \
        ([ray["head"]] if ray.get("head") else [])


def _stop(pid: int) -> None:
    """SIGTERM to a process this stack started (and, as a last resort, SIGKILL to the process
    group it leads: its own session, made at start), waiting for it to go."""
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def down(folder: Path = STACK, quiet: bool = False) -> None:
    """Stop everything the stack in `folder` started; its logs are kept."""
    state = load(folder)
    if state is None:
        if not quiet:
            print("the stack is not up")
        return
    ray = state.get("ray") or {}
    # Replicas first (nobody starts new trainings), then the Ray workers, then its head.
    for pid in [r["pid"] for r in state.get("replicas", [])]:
        _stop(pid)
    for pid in ray.get("workers", []):
        _stop(pid)
    if ray.get("head"):
        _stop(ray["head"])
        # The head's address, left for `ray.init()` to find: it would try this dead cluster.
        current = Path("/tmp/ray/ray_current_cluster")
        port = ray["address"].rsplit(":", 1)[1]
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink(missing_ok=True)
    pg = state.get("postgres")
    if pg:
        postgres.Cluster(Path(pg["folder"]), pg["port"], postgres.bindir()).stop()
    _state_file(folder).unlink()
    _token(folder).unlink(missing_ok=True)
    if not quiet:
        print(f"stopped; logs are kept in {_logs(folder)}/")


def memory(state: dict) -> list[tuple[str, int, float]]:
    """(component, processes, MB) for every part of the stack: the proportional set size (PSS:
    shared pages split between the processes sharing them) of its process and all descendants."""
    import psutil

    def tree_mb(pid: int) -> tuple[int, float]:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, 0.0
        total = 0
        for q in procs:
            try:
                total += q.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return len(procs), total / 2**20

    rows = []
    pg = state.get("postgres")
    if pg:
        pid_file = Path(pg["folder"]) / "data" / "postmaster.pid"
        if pid_file.exists():
            rows.append(("postgresql", *tree_mb(int(pid_file.read_text().split()[0]))))
    ray = state.get("ray") or {}
    if ray.get("head"):
        rows.append(("ray head (schedules, 0 CPUs)", *tree_mb(ray["head"])))
    for i, pid in enumerate(ray.get("workers", []), 1):
        rows.append((f"ray worker node {i} (1 CPU)", *tree_mb(pid)))
    for i, r in enumerate(state.get("replicas", []), 1):
        rows.append((f"streamlit replica {i}", *tree_mb(r["pid"])))
    return rows


def status(folder: Path = STACK) -> None:
    state = load(folder)
    if state is None:
        print("the stack is not up (make stack)")
        return
    print(f"store: {state['postgres']['url']}\nray:   {state['ray']['address']}")
    for r in state["replicas"]:
        print(f"lab:   {r['url']}  (pid {r['pid']}{'' if _alive(r['pid']) else ', dead'})")
    print(f"\n{'component':32s} {'processes':>9s} {'MB (PSS)':>9s}")
    total = 0.0
    for name, n, mb in memory(state):
        total += mb
        print(f"{name:32s} {n:9d} {mb:9.0f}")
    print(f"{'total':32s} {'':9s} {total:9.0f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start PostgreSQL, Ray (a head and workers) and Streamlit replicas")
    u.add_argument("--replicas", type=int, default=2)
    u.add_argument("--workers", type=int, default=2)
    sub.add_parser("status", help="what runs, and the memory of each component")
    sub.add_parser("down", help="stop everything `up` started")
    args = p.parse_args(argv)
    if args.cmd == "up":
        state = up(args.replicas, args.workers)
        print(f"store: {state['postgres']['url']}\nray:   {state['ray']['address']} "
              f"(token in {_token(STACK)})")
        for r in state["replicas"]:
            print(f"lab:   {r['url']}")
        print(f"logs:  {state['logs']}/    stop: make stack-down")
    elif args.cmd == "status":
        status()
    else:
        down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
