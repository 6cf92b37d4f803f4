# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test lint bench load load-stack attack clean stack stack-status stack-down

# Stamp files make the install happen once, and again whenever a requirements file changes.
$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-scale.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT) --server.address 127.0.0.1

test: $(VENV)/.dev
	$(PY) -m ruff check core dashboard tests bench
	$(PY) -m pytest

bench: $(VENV)/.dev
	$(PY) -m bench

# Twenty visitors opening presets at once (bench.load), then one visitor's six heavy CNN requests
# beside another's light one (bench.fair); both hosted, on loopback. Fails if either fails.
load: $(VENV)/.dev
	$(PY) -m bench.load; seminar=$$?; $(PY) -m bench.fair; heavy=$$?; test $$seminar -eq 0 -a $$heavy -eq 0

# Hostile links, CSV files, CLI values and store faults against a hosted lab on loopback, in
# temporary folders; prints tried / handled (tests/test_attack.py runs a short version).
attack: $(VENV)/.dev
	$(PY) -m bench.attack

# PostgreSQL, a Ray head with two workers and two Streamlit replicas on loopback (bench/stack.py);
# the dev set brings requirements-scale.txt (psycopg, ray) and psutil for the memory figures.
stack: $(VENV)/.dev
	$(PY) -m bench.stack up

stack-status: $(VENV)/.dev
	$(PY) -m bench.stack status

stack-down:
	$(PY) -m bench.stack down

# A seminar on a stack of its own (temporary folder, loopback): 60 students on two replicas and 3
# Chromium pages, then a Ray worker and a replica killed mid-run; prints PASS/FAIL and the figures.
load-stack: $(VENV)/.dev
	$(PY) -m bench.load_stack

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
