# tbgpool — two commands do all the set-up:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
CONFIG ?= etc/tbgpool-dev.json
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
TESTS  ?= tests

.PHONY: install run events test sanitize fuzz fuzz-ci lint typecheck bench bench-events clean

# A virtualenv with the package installed in place (the editable install builds
# the cffi SHA-256 module into tbgpool/). The repository goes on PYTHONPATH so
# twistd finds twisted/plugins/tbgpool_plugin.py, as it would in site-packages.
$(VENV)/.installed: setup.cfg setup.py pyproject.toml tbgpool/_sha256_build.py $(wildcard tbgpool/_sha256/*)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	rm -f tbgpool/_sha256.cpython-*.so  # a stale in-place build would shadow the new module
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/twistd --pidfile= -n tbgpool --config $(CONFIG)

# Watch the events of `make run` (its config sends them to logs/events.sock).
events: install
	mkdir -p logs
	$(VENV)/bin/tbgpool-events --socket logs/events.sock

test: install
	$(VENV)/bin/trial --reporter=text $(TESTS)

# The SHA-256 C code under ASan+UBSan, in a temporary copy (the normal module is untouched).
sanitize: install
	bash tools/sanitize.sh

# atheris fuzzing (x86-64 Linux): every target of fuzz/ for 10 minutes, or 15 s each in CI.
fuzz: install
	$(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) fuzz/run.py --seconds-per-target 600

fuzz-ci: install
	$(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) fuzz/run.py --seconds-per-target 15

lint: install
	$(VENV)/bin/ruff check tbgpool tests twisted bench fuzz

typecheck: install
	$(VENV)/bin/mypy tbgpool

bench: install
	$(PY) bench/share_throughput.py

bench-events: install
	$(PY) bench/events_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info _trial_temp tbgpool/_sha256.c tbgpool/_sha256*.so
