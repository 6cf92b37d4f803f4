"""bench/harness.py without a browser: the port, the start, the health wait and the stop.

A stand-in server (a few lines of http.server that answer /_stcore/health on the port given
after --server.port) takes streamlit's place, so these run in a second or two."""
from __future__ import annotations

import socket
import sys
import urllib.request

import pytest

from bench.harness import ServerError, checks_exit, free_port, lab_server, streamlit_flags

HEALTHY = r"""
import http.server, os, sys
port = int(sys.argv[sys.argv.index("--server.port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/_stcore/health" else 404)
        self.end_headers()
        self.wfile.write(os.environ.get("GREETING", "").encode())
    def log_message(self, *a):
        pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def test_free_port_is_free_on_loopback():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # nothing holds it


def test_streamlit_flags_serve_the_app_on_loopback_only():
    flags = streamlit_flags(8123)
    assert flags[0] == "dashboard/app.py"
    assert flags[flags.index("--server.address") + 1] == "127.0.0.1"
    assert flags[flags.index("--server.port") + 1] == "8123"


def test_server_is_healthy_inside_and_stopped_after():
    with lab_server({"GREETING": "hello"}, launcher=[sys.executable, "-c", HEALTHY]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/_stcore/health", timeout=5) as r:
            assert r.status == 200 and r.read() == b"hello"  # the given environment reached it
        proc = server.proc
    assert proc.poll() is not None  # stopped on leaving


def test_a_server_that_exits_fails_at_once_with_its_output():
    crash = [sys.executable, "-c", "import sys; print('no app here'); sys.exit(3)"]
    with pytest.raises(ServerError, match=r"exited with status 3:\nno app here"):
        with lab_server(launcher=crash, timeout=60):  # returns long before the 60 s deadline
            pass


def test_a_server_that_never_answers_fails_at_the_deadline():
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]  # alive, never listening; stopped by lab_server
    with pytest.raises(ServerError, match="did not become healthy within 1 s"):
        with lab_server(launcher=silent, timeout=1):
            pass


def test_a_benchmarks_exit_code_comes_from_its_checks(capsys):
    held, missed = ("memory", True, "400 MB"), ("deadline", False, "3.1 s late")
    assert checks_exit(lambda: [held, held], "FAIL") == 0
    assert checks_exit(lambda: [held, missed], "FAIL") == 1
    assert checks_exit(lambda: [], "FAIL") == 1  # nothing checked is not a pass
    assert capsys.readouterr().err == ""

    def broken() -> list:
        raise ServerError("the server did not start")

    assert checks_exit(broken, "NOT MET") == 2
    assert capsys.readouterr().err == "NOT MET  the server did not start\n"


def test_tracebacks_give_the_first_whole_and_the_count():
    from bench.harness import tracebacks

    first = "Traceback (most recent call last):\n  File \"a.py\", line 1\nValueError: first\n"
    log = "start\n" + first + "x" * 9000 + "\nTraceback (most recent call last):\nIndexError: last\n"
    out = tracebacks(log, chars=len(first))
    assert out.startswith("--- 2 traceback(s)") and out.endswith(first)  # the cause, not the tail
    assert tracebacks("all well\n") is None
